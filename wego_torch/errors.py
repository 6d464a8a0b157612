"""wego_torch's error type: bad input is one clear line (scripts exit with code 2)."""


class WegoError(ValueError):
    """A model, quantization result, target, checkpoint, image or input WeGO-Torch cannot take."""
