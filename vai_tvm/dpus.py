"""The ``dpu=`` names of the TVM flow and the targets they stand for.

Rule: a name is one of the original flow's DPU names (``ORIGINAL_NAMES``: each mapped to one board of this
project's arch/ library) or any ``FAMILY/BOARD`` of that library (``xir.target.loader.list_targets``), case
insensitive; anything else is a ``VaiTvmError`` listing every known name.
"""
from __future__ import annotations

from xir.target import Target
from xir.target.errors import TargetError
from xir.target.loader import list_targets, load_target

from .errors import VaiTvmError

#: the original TVM flow's names -> FAMILY/BOARD (its DPUCADX8G and DPUCADF8H ran on Alveo U200/U250 cards:
#: the U250 stands for both)
ORIGINAL_NAMES = {
    "DPUCZDX8G-zcu104": "DPUCZDX8G/ZCU104",
    "DPUCZDX8G-zcu102": "DPUCZDX8G/ZCU102",
    "DPUCADX8G": "DPUCADX8G/U250",
    "DPUCADF8H": "DPUCADF8H/U250",
}


def known_names() -> list[str]:
    """Every name ``dpu=`` takes: the original's, then the compilable boards of the arch/ library."""
    return list(ORIGINAL_NAMES) + [b for b in list_targets() if load_target(b).compilable]


def board_of(dpu: str) -> str:
    """The FAMILY/BOARD a ``dpu=`` name stands for."""
    if isinstance(dpu, str):
        for name, board in ORIGINAL_NAMES.items():
            if dpu.strip().lower() == name.lower():
                return board
        for board in known_names()[len(ORIGINAL_NAMES):]:
            if dpu.strip().lower() == board.lower():
                return board
    raise VaiTvmError(f"unsupported dpu={dpu!r}; known names: {', '.join(known_names())}")


def target_of(dpu: str) -> Target:
    """The compilable target of a ``dpu=`` name."""
    board = board_of(dpu)
    try:
        t = load_target(board)
    except TargetError as e:
        raise VaiTvmError(f"dpu={dpu!r}: {e}") from None
    return t
