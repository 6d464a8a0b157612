"""vaiq's error types: user errors carry one clear line (what, where, what to do)."""


class VaiqError(ValueError):
    """Bad input to the quantizer (the CLI prints it on one line and exits with code 2)."""


class CaptureError(VaiqError):
    """The model could not be captured with torch.export."""


class QuantInfoError(VaiqError):
    """quant_info.json is missing, malformed or does not match the model."""


class ConfigError(VaiqError):
    """A quant config file with an unknown key or a bad value."""


class QatError(VaiqError):
    """A QAT call made out of order or on the wrong object (the message names the missing call)."""


class OnnxModelError(VaiqError):
    """An ONNX model vaiq cannot read: not a model, fails onnx.checker, an opset older than 13, dynamic
    shapes left unfixed, an ``input_shapes`` entry naming no input (the message says what to do)."""
