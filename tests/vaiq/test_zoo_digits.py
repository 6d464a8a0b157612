"""Digits CNN: the bundled scikit-learn data split and a short training run."""

import torch

from vaiq.zoo import evaluate, load_digits_split, train_digits_cnn


def test_split_shapes_and_range():
    x_train, y_train, x_test, y_test = load_digits_split(seed=0)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert x_train.shape[1:] == (1, 8, 8) and x_test.shape[1:] == (1, 8, 8)
    assert len(x_train) + len(x_test) == 1797 and len(x_test) == 360
    assert float(x_train.min()) == 0.0 and float(x_train.max()) == 1.0
    assert set(y_test.tolist()) == set(range(10))
    again = load_digits_split(seed=0)
    assert torch.equal(again[0], x_train) and torch.equal(again[3], y_test)
    assert not torch.equal(load_digits_split(seed=1)[3], y_test)


def test_training_reaches_95_percent():
    model, acc = train_digits_cnn(seed=0)
    assert acc >= 0.95
    _, _, x_test, y_test = load_digits_split(seed=0)
    assert evaluate(model, x_test, y_test) == acc
    assert not model.training
