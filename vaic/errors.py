"""vaic's error types: a user error is one clear line (exit 2); a compiler bug names the instruction."""


class VaicError(ValueError):
    """Bad input to the compiler: a file, an arch, an option or a model it cannot take."""


class CompilerBug(RuntimeError):
    """An internal inconsistency found by the compiler's own checks (exit 1); never the user's fault."""
