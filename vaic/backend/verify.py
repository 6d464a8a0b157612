"""The compiler's check of every program it generates: ``xir.isa.verify.check_stream`` (the rules live
there, shared with the runner's load-time check); a violation here is a bug of ours (CompilerBug)."""
from __future__ import annotations

from xir.isa.shadow import Shadow
from xir.isa.verify import StreamError, check_stream
from xir.target import Target

from ..errors import CompilerBug
from .program import DpuProgram


def verify(program: DpuProgram, target: Target, *, trace: Shadow | None = None) -> bytes:
    """Check ``program`` (xir.isa.verify's rules, outputs included); CompilerBug on the first violation.
    Returns the encoded stream."""
    try:
        return check_stream(program.instructions, target, program.reg_sizes, program.inputs, program.outputs,
                            trace=trace)
    except StreamError as e:
        raise CompilerBug(str(e)) from None
