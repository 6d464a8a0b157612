"""The vaiq CLI's loaders: models from FILE.py:Name / zoo:NAME with weights, and calibration data."""
import numpy as np
import pytest
import torch
from PIL import Image

from vaiq.cli_data import open_data
from vaiq.cli_model import check_forward, load_model, load_weights, parse_shape
from vaiq.errors import VaiqError

MODEL_SRC = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = torch.relu(self.conv(x)).mean(dim=(2, 3))
        return self.fc(x)


def make_net():
    return Net()


class NeedsArgs(nn.Module):
    def __init__(self, width):
        super().__init__()


def not_a_model():
    return 42


VALUE = 3
instance = Net()
'''


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "my_model.py"
    path.write_text(MODEL_SRC)
    return path


def _err(fn, *args, **kw) -> str:
    with pytest.raises(VaiqError) as e:
        fn(*args, **kw)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


# ------------------------------------------------------------------------------------------ models

def test_parse_shape():
    assert parse_shape("1,3,224,224") == (1, 3, 224, 224)
    assert parse_shape(" 1x3x8x8 ") == (1, 3, 8, 8)
    assert parse_shape("4, 2") == (4, 2)
    for bad in ("", "a,b", "1,0,3", "1,-3", "1.5,2", "1,3,x", "x3", "1,,3"):
        assert "--input-shape" in _err(parse_shape, bad)


@pytest.mark.parametrize("name", ["Net", "make_net", "instance"])
def test_file_model_class_factory_or_instance(model_file, name):
    lm = load_model(f"{model_file}:{name}", input_shape=(1, 3, 8, 8))
    assert type(lm.model).__name__ == "Net" and not lm.model.training
    assert lm.input_shape == (1, 3, 8, 8) and tuple(lm.float_output.shape) == (1, 4)


def test_file_model_errors(model_file, tmp_path):
    shape = (1, 3, 8, 8)
    assert "FILE.py:Name" in _err(load_model, str(model_file), input_shape=shape)
    assert "no such model file" in _err(load_model, f"{tmp_path / 'nope.py'}:Net", input_shape=shape)
    msg = _err(load_model, f"{model_file}:Missing", input_shape=shape)
    assert "'Missing'" in msg and "Net" in msg and "make_net" in msg and "VALUE" not in msg
    assert "without arguments" in _err(load_model, f"{model_file}:NeedsArgs", input_shape=shape)
    assert "returned a value of type int" in _err(load_model, f"{model_file}:not_a_model", input_shape=shape)
    assert "not an nn.Module" in _err(load_model, f"{model_file}:VALUE", input_shape=shape)
    assert "--input-shape" in _err(load_model, f"{model_file}:Net")
    broken = tmp_path / "broken.py"
    broken.write_text("import torch\nraise RuntimeError('no GPU here')\n")
    assert "importing the file failed: RuntimeError: no GPU here" in _err(load_model, f"{broken}:Net",
                                                                           input_shape=shape)
    notpy = tmp_path / "model.txt"
    notpy.write_text("x")
    assert ".py" in _err(load_model, f"{notpy}:Net", input_shape=shape)


def test_file_model_imports_its_neighbours(tmp_path):
    (tmp_path / "blocks.py").write_text("from torch import nn\nclass Block(nn.Linear):\n    pass\n")
    (tmp_path / "net.py").write_text("from blocks import Block\ndef build():\n    return Block(4, 2)\n")
    assert tuple(load_model(f"{tmp_path / 'net.py'}:build", input_shape=(1, 4)).float_output.shape) == (1, 2)


def test_wrong_input_shape_names_the_shape(model_file):
    msg = _err(load_model, f"{model_file}:Net", input_shape=(1, 5, 8, 8))
    assert "1x5x8x8" in msg and "--input-shape" in msg
    assert "1x3x8" in _err(check_forward, torch.nn.Conv2d(3, 4, 3), (1, 3, 8))


def test_zoo_models():
    lm = load_model("zoo:ffn")
    assert lm.input_shape == (1, 2) and type(lm.model).__name__ == "FFN"
    assert load_model("zoo:digits_cnn", input_shape=(2, 1, 8, 8)).input_shape == (2, 1, 8, 8)
    msg = _err(load_model, "zoo:nonet")
    assert "unknown zoo model 'nonet'" in msg and "tiny_resnet" in msg


@pytest.mark.parametrize("wrap", ["plain", "state_dict", "model", "dataparallel"])
def test_weights_are_unwrapped(model_file, tmp_path, wrap):
    src = load_model(f"{model_file}:Net", input_shape=(1, 3, 8, 8)).model
    sd = {k: torch.full_like(v, 0.5) for k, v in src.state_dict().items()}
    blob = {"plain": sd, "state_dict": {"state_dict": sd, "epoch": 3}, "model": {"model": sd},
            "dataparallel": {f"module.{k}": v for k, v in sd.items()}}[wrap]
    torch.save(blob, tmp_path / "w.pth")
    lm = load_model(f"{model_file}:Net", tmp_path / "w.pth", (1, 3, 8, 8))
    assert all(torch.equal(v, torch.full_like(v, 0.5)) for v in lm.model.state_dict().values())


def test_weights_errors(model_file, tmp_path):
    model = load_model(f"{model_file}:Net", input_shape=(1, 3, 8, 8)).model
    assert "no such weights file" in _err(load_weights, model, tmp_path / "none.pth")
    torch.save(torch.nn.Linear(3, 3).state_dict(), tmp_path / "other.pth")
    msg = _err(load_weights, model, tmp_path / "other.pth")
    assert "does not match Net" in msg and "missing" in msg and "conv.weight" in msg
    sd = model.state_dict()
    sd["fc.weight"] = torch.zeros(5, 8)
    torch.save(sd, tmp_path / "shape.pth")
    assert "'fc.weight' has shape (5, 8)" in _err(load_weights, model, tmp_path / "shape.pth")
    torch.save(torch.zeros(3), tmp_path / "tensor.pth")
    assert "not a state dict" in _err(load_weights, model, tmp_path / "tensor.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    assert "cannot load the weights" in _err(load_weights, model, tmp_path / "junk.pth")


# ------------------------------------------------------------------------------------------ data

def _all(ds, bs=4):
    xs, ys = zip(*ds.batches(bs))
    return torch.cat(xs), (None if ys[0] is None else np.concatenate(ys))


def test_npy_and_npz(tmp_path):
    a = np.random.default_rng(0).random((10, 3, 4, 5), dtype=np.float32)
    np.save(tmp_path / "a.npy", a)
    ds = open_data(tmp_path / "a.npy", (3, 4, 5))
    assert ds.n == 10 and ds.num_batches(4) == 3
    assert [tuple(x.shape) for x, _ in ds.batches(4)] == [(4, 3, 4, 5), (4, 3, 4, 5), (2, 3, 4, 5)]
    x, y = _all(ds)
    assert x.dtype == torch.float32 and torch.equal(x, torch.from_numpy(a)) and y is None
    np.savez(tmp_path / "b.npz", first=a[:3], x=a, y=np.arange(10))
    x, y = _all(open_data(tmp_path / "b.npz", (3, 4, 5), limit=6))
    assert torch.equal(x, torch.from_numpy(a[:6])) and y.tolist() == list(range(6))
    np.savez(tmp_path / "c.npz", a[:3], a)          # no 'x': the first array
    assert open_data(tmp_path / "c.npz", (3, 4, 5)).n == 3


def test_nhwc_and_uint8_arrays(tmp_path):
    a = np.random.default_rng(1).integers(0, 256, (3, 4, 5, 3), dtype=np.uint8)   # N H W C
    np.save(tmp_path / "u8.npy", a)
    x, _ = _all(open_data(tmp_path / "u8.npy", (3, 4, 5)))
    assert torch.allclose(x, torch.from_numpy(a.transpose(0, 3, 1, 2).astype(np.float32) / 255))
    np.save(tmp_path / "i.npy", np.arange(6, dtype=np.int64).reshape(3, 2))
    assert _all(open_data(tmp_path / "i.npy", (2,)))[0].tolist() == [[0, 1], [2, 3], [4, 5]]


def test_image_folder(tmp_path):
    folder = tmp_path / "imgs"
    (folder / "b_class").mkdir(parents=True)
    (folder / ".hidden").mkdir()
    Image.new("RGB", (40, 30), (255, 0, 0)).save(folder / "b_class" / "z.png")
    Image.new("RGB", (8, 8), (0, 255, 0)).save(folder / "a.jpg", quality=100)
    Image.new("L", (20, 10), 128).save(folder / "c.bmp")
    Image.new("RGB", (8, 8)).save(folder / ".hidden" / "skip.png")
    (folder / "labels.txt").write_text("ignored")
    ds = open_data(folder, (3, 16, 12))
    assert [p.relative_to(folder).as_posix() for p in ds.files] == ["a.jpg", "b_class/z.png", "c.bmp"]
    x, _ = _all(ds)
    assert tuple(x.shape) == (3, 3, 16, 12) and float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert torch.allclose(x[1, 0], torch.ones(16, 12)) and float(x[1, 1:].abs().max()) == 0.0   # red
    assert float(x[0, 1].mean()) > 0.95                                                         # green
    assert torch.allclose(x[2], torch.full((3, 16, 12), 128 / 255))                            # grey as RGB
    gray = _all(open_data(folder, (1, 5, 5), limit=2))[0]
    assert tuple(gray.shape) == (2, 1, 5, 5)


def test_data_errors(tmp_path):
    def err(path, sample=(3, 4, 4), **kw):
        return _err(open_data, path, sample, **kw)

    assert "no such data file" in err(tmp_path / "none.npy")
    (tmp_path / "d.csv").write_text("1,2")
    assert ".npy" in err(tmp_path / "d.csv")
    bad = np.zeros((5, 3, 4, 4), np.float32)
    bad[3, 1, 2, 2] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    assert "sample 3 contains NaN or Inf" in err(tmp_path / "nan.npy")
    assert open_data(tmp_path / "nan.npy", (3, 4, 4), limit=3).n == 3        # only the used samples count
    bad[3] = 0
    bad[4, 0, 0, 0] = np.inf
    np.save(tmp_path / "inf.npy", bad)
    assert "sample 4" in err(tmp_path / "inf.npy")
    np.save(tmp_path / "empty.npy", np.zeros((0, 3, 4, 4), np.float32))
    assert "empty" in err(tmp_path / "empty.npy")
    np.save(tmp_path / "shape.npy", np.zeros((2, 3, 5, 5), np.float32))
    msg = err(tmp_path / "shape.npy")
    assert "3x5x5" in msg and "3x4x4" in msg
    np.savez(tmp_path / "labels.npz", x=np.zeros((4, 3, 4, 4), np.float32), y=np.arange(3))
    assert "one label per sample" in err(tmp_path / "labels.npz")
    np.save(tmp_path / "obj.npy", np.array(["a", "b"]))
    assert "numeric" in err(tmp_path / "obj.npy")
    (tmp_path / "junk.npy").write_bytes(b"garbage")
    assert "not a .npy data array" in err(tmp_path / "junk.npy")
    (tmp_path / "noimg").mkdir()
    assert "no image files" in err(tmp_path / "noimg")
    assert "C 1 or 3" in err(tmp_path / "noimg", (2,))
    (tmp_path / "badimg").mkdir()
    (tmp_path / "badimg" / "broken.png").write_bytes(b"\x89PNG not really")
    ds = open_data(tmp_path / "badimg", (3, 4, 4))
    msg = _err(lambda: next(ds.batches(2)))
    assert "broken.png" in msg and "cannot read the image" in msg
