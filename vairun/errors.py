"""vairun's error type: bad input to the runtime is one clear line (the CLI exits with code 2)."""


class VairunError(ValueError):
    """A model, input or option the runtime cannot take: missing file, wrong shape or dtype, corrupt
    model, checksum or fingerprint mismatch."""
