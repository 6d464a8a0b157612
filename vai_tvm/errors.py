"""The error of the TVM flow: every refusal of bad input is one ``VaiTvmError`` with a one-line message."""


class VaiTvmError(Exception):
    """Bad input to the TVM flow (a model, a dpu name, a build folder, a setting): what is wrong and what to do."""
