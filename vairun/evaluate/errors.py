"""How an evaluation ends other than with a result (bad input is :class:`vairun.VairunError`, exit 2)."""


class EvalFailure(RuntimeError):
    """The job failed for a reason that is not the user's input: a worker kept dying or raised an
    unexpected error (the CLI exits with code 1)."""


class EvalInterrupted(Exception):
    """Ctrl-C: the workers were stopped; ``done`` of ``total`` inputs had finished (kept for
    ``--resume`` when ``--outputs`` is given)."""

    def __init__(self, done: int, total: int, resumable: bool):
        super().__init__(f"interrupted after {done} of {total} inputs")
        self.done, self.total, self.resumable = done, total, resumable
