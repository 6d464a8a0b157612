"""The exception types of the shared layer: every user-facing failure is one clear sentence."""


class XirError(ValueError):
    """Base class of every error raised by ``xir`` for bad input (a ValueError, so callers that only
    know the standard library can still catch it)."""


class AttrError(XirError):
    """An attribute value that does not fit its declared type."""


class GraphError(XirError):
    """A graph that is not well formed: the message names the offending op."""


class OpDefError(XirError):
    """An op that does not match its op definition (unknown type, missing input, bad attribute)."""


class XModelError(XirError):
    """An .xmodel file that cannot be read or written: the message names the file."""


class FileError(XirError):
    """A file or directory we were given, or must write, that cannot be used: the message names the path
    and what to do."""


class CompiledModelError(XirError):
    """A compiled model whose subgraphs are inconsistent with their instruction streams or target: the
    message names the file, the subgraph and the field."""
