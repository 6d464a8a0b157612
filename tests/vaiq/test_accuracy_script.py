"""scripts/vaiq_accuracy.py (the PTQ fidelity benchmark) on the digits CNN: every method and switch
runs, and the default (bias correction + CLE) is closer to float than plain diffs."""
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_accuracy_script_digits():
    spec = importlib.util.spec_from_file_location("vaiq_accuracy", ROOT / "scripts" / "vaiq_accuracy.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["vaiq_accuracy"] = mod
    spec.loader.exec_module(mod)
    task = mod.digits_task(0, 300)
    ref = mod._run(task.model, task.x_test)
    plain = mod.sqnr_db(ref, mod.vaiq_outputs(task, "diffs", False, False))
    default = mod.sqnr_db(ref, mod.vaiq_outputs(task, "diffs", True, True))
    assert default > plain + 0.5, (plain, default)
    assert task.score(mod.vaiq_outputs(task, "mse", True, True)) >= task.score(ref) - 1.0
