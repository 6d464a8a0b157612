"""The partition record: what a DPU partition carries inside the built module.

Rule: a record is ``MAGIC``, the length of a JSON header (8 bytes, little endian), the header (format,
index, name, dpu board, target name and fingerprint, input and output shapes, the md5 of the ONNX model,
the model key of all partitions, the number of partitions) and the partition's float ONNX model. It is
passed as a uint8 constant to every call of the partition, so it lives in the executable's constant pool
and travels with ``export_library``. A record that does not parse is refused naming what is wrong.
"""
from __future__ import annotations

import hashlib
import json
import struct

from .errors import VaiTvmError

MAGIC = b"VAITVMP1"
PART_FORMAT = "vai_tvm-partition-1"


def encode_record(header: dict, onnx_bytes: bytes) -> bytes:
    h = json.dumps(header, sort_keys=True).encode()
    return MAGIC + struct.pack("<Q", len(h)) + h + onnx_bytes


def decode_record(blob: bytes) -> tuple[dict, bytes]:
    if blob[:len(MAGIC)] != MAGIC or len(blob) < len(MAGIC) + 8:
        raise VaiTvmError("a DPU partition record of the module is not one vai_tvm wrote; "
                          "partition the model again with vai_tvm.partition_for_vitis_ai")
    (n,) = struct.unpack("<Q", blob[len(MAGIC):len(MAGIC) + 8])
    start = len(MAGIC) + 8
    try:
        header = json.loads(blob[start:start + n])
    except (ValueError, UnicodeDecodeError):
        raise VaiTvmError("a DPU partition record of the module has a damaged header; "
                          "partition the model again with vai_tvm.partition_for_vitis_ai") from None
    onnx_bytes = blob[start + n:]
    if header.get("format") != PART_FORMAT or hashlib.md5(onnx_bytes).hexdigest() != header.get("onnx_md5"):
        raise VaiTvmError(f"a DPU partition record of the module is of format {header.get('format')!r} or "
                          f"damaged (this vai_tvm reads {PART_FORMAT}); partition the model again")
    return header, onnx_bytes
