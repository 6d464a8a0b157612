"""In the modules that test instruction semantics on hand-written streams, every ``Machine.run`` runs
the stream on both executors (the fast one, whose results the test checks, and the reference one
from a copy of the machine's memories) and fails unless they leave the same banks, DDR registers,
INIT state and faults (emu_support.run_both)."""
import pytest

from emu_support import run_both
from vairun.emu import Machine

#: modules whose streams are checked on both executors
BOTH = {"test_emu_alu", "test_emu_conv", "test_emu_dwconv", "test_emu_elew", "test_emu_faults",
        "test_emu_load_save", "test_emu_pool", "test_emu_stream", "test_emu_fused", "test_emu_fused_dwconv",
        "test_runner_alu_activations"}


@pytest.fixture(autouse=True)
def _both_executors(request, monkeypatch):
    if request.module.__name__.rsplit(".", 1)[-1] in BOTH:
        plain = Machine.run
        monkeypatch.setattr(Machine, "run", lambda self, program, isa=None, **kw:
                            run_both(self, program, isa, run=plain, **kw))
    yield


@pytest.fixture(params=["auto", "numpy", "torch", "native"])
def emu_kernels(request, monkeypatch):
    """The fast executor on each setting of VAIRUN_EMU_KERNELS (accel.py): every kernel set (``auto``:
    torch's int8 GEMM with the compiled finishing and depthwise kernels), none (numpy's float32
    BLAS), torch's GEMM with numpy's finishing, and the compiled depthwise kernel with numpy's
    products."""
    monkeypatch.setenv("VAIRUN_EMU_KERNELS", request.param)
    return request.param
