"""The fuzz corpus (fuzz_corpus.py) through the command lines: per class a few dozen seeded cases in the
default run, many more under ``-m slow``. Each case must end in exit 2 with one line, or exit 0 with the
unmutated result (another valid program's result for the semantic classes); never exit 1, a traceback or
a hang."""
from __future__ import annotations

import pytest

from fuzz_corpus import check, make_case, run_case

#: cases per class: (default run, slow run); the slow run's total is over 5,000
COUNTS = {
    "xmodel-bytes": (40, 800), "xmodel-attr": (60, 1000), "xmodel-field": (60, 1200), "xmodel-param": (10, 200),
    "npy": (40, 600), "arch-json": (40, 600), "quant-info": (12, 200), "vaic-options": (30, 300),
    "vaic-deploy": (12, 200), "vaic-sweep": (12, 100),
}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    from fuzz_corpus import build_base
    return build_base(tmp_path_factory.mktemp("fuzz_base"))


def _run(cls, seeds, base, tmp_path):
    bad = []
    for seed in seeds:
        case = make_case(cls, seed, base, tmp_path / f"{seed}")
        why = check(run_case(case, base))
        if why:
            bad.append(f"seed {seed} ({case.what}): {why}")
    assert not bad, f"{len(bad)} of {len(seeds)} {cls} cases broke the contract:\n" + "\n".join(bad[:10])


@pytest.mark.parametrize("cls", list(COUNTS))
def test_corpus(cls, base, tmp_path):
    _run(cls, range(COUNTS[cls][0]), base, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("cls", list(COUNTS))
def test_corpus_slow(cls, base, tmp_path):
    _run(cls, range(COUNTS[cls][0], COUNTS[cls][0] + COUNTS[cls][1]), base, tmp_path)
