"""The DPU instruction set: kinds, layouts (ISA1 published, ISA1X project-defined), encode/decode to
little-endian 32-bit words, listings, the dependency-token protocol and the row placement rule.

The reference for every field's meaning is ``docs/isa.md``.
"""

from .addressing import (block_extent, block_lines, input_row_slots, output_row_slots, row_slots,
                         tile_index, uniform_sweep_bases)
from .codec import decode, decode_one, encode, encode_one, offsets
from .codes import ActType, AluType, ElewType, PadMode, PoolType
from .disasm import assemble, disassemble
from .engines import ENGINE_OF_KIND, Engine, engine_of, engines_mask, format_mask, mask_engines, parse_mask
from .errors import (AddressingError, AssemblyError, DecodeError, DependencyError, FieldRangeError,
                     IsaError)
from .fields import Coding, Slot
from .instruction import Instruction, make
from .kinddef import ISAS
from .layouts import (KINDS, OPCODE_OF_KIND, activations, field_names, field_slot, is_published, isa_for_banks,
                      kind_def, layout, word_count)
from .tokens import TokenRun, run_tokens

__all__ = [
    "ISAS", "KINDS", "OPCODE_OF_KIND", "ENGINE_OF_KIND",
    "Instruction", "make", "encode", "encode_one", "decode", "decode_one", "offsets",
    "disassemble", "assemble",
    "layout", "word_count", "activations", "field_names", "field_slot", "is_published", "isa_for_banks", "kind_def",
    "Engine", "engine_of", "engines_mask", "mask_engines", "format_mask", "parse_mask",
    "ActType", "PoolType", "ElewType", "AluType", "PadMode", "Coding", "Slot",
    "run_tokens", "TokenRun",
    "row_slots", "input_row_slots", "output_row_slots", "uniform_sweep_bases", "block_extent",
    "block_lines", "tile_index",
    "IsaError", "FieldRangeError", "DecodeError", "AssemblyError", "DependencyError", "AddressingError",
]
