"""Emulator speed on a conv-heavy stream: ``python -m vairun.emu.fast.bench [--convs N] [--target T]``.

The stream is N CONV instructions of 8 output rows x 64 columns x OCP channels, 3x3 kernel with
padding, ICP input channels (16 x 16 on DPUCZDX8G/KV260), each at its own bank addresses, so the
first run builds one plan per instruction (cold) and the second reuses them (warm). Prints
instructions/s and MACs/s for both; a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from xir.isa import make
from xir.target import load_target

from ..machine import Machine


def conv_stream(target, count: int, length: int = 64, groups: int = 1, share: int = 1):
    """CONVINIT + ``count`` distinct CONVs of 8 (or PP) rows x ``length`` columns over ``groups``
    input channel groups, then END. ``share`` consecutive CONVs read the same input block with
    different weights (the OCP output-channel groups of one layer tile)."""
    rows = min(8, target.pp)
    span = target.image_groups[0].depth - length * groups - 1
    stream = [make("CONVINIT", kernel_h=3, kernel_w=3, valid_pixel_parallel=rows, shift_cut=7, shift_bias=2,
                   act_type=1, jump_read=groups, jump_write=1)]
    out_bank = target.image_groups[1].first_id
    w_slots = target.weights_group.depth // (9 * groups)
    for i in range(count):
        stream.append(make("CONV", bank_id_in=0, bank_addr_in=(i // share * 13) % span, bank_id_out=out_bank,
                           bank_addr_out=(i * 29) % span, length=length, pad_top=1, pad_bottom=1, pad_left=1,
                           pad_right=1, bank_addr_weights=(i % (w_slots if share == 1 else share)) * 9 * groups,
                           bank_addr_bias=i % 100,
                           channel_group=groups))
    stream.append(make("END"))
    return stream, rows * length * target.ocp * 9 * target.icp * groups


def measure(target_name: str = "DPUCZDX8G/KV260", convs: int = 1000, batch: int = 1, groups: int = 1,
            length: int = 64, share: int = 1) -> dict:
    """Time a cold and a warm run of the conv stream; returns the figures."""
    target = load_target(target_name)
    stream, macs = conv_stream(target, convs, length, groups, share)
    m = Machine(target, batch=batch)
    rng = np.random.default_rng(0)
    for g in target.banks:
        for b in g.ids:
            view = m.bank(b)
            view[...] = rng.integers(-128, 128, size=view.shape, dtype=np.int8)
    figures = {}
    for label in ("cold", "warm"):
        t0 = time.perf_counter()
        m.run(stream)
        dt = time.perf_counter() - t0
        figures[label] = {"seconds": dt, "instr_per_s": len(stream) / dt, "macs_per_s": convs * macs * batch / dt}
    return figures


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="DPUCZDX8G/KV260")
    ap.add_argument("--convs", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--groups", type=int, default=1, help="input channel groups (ICP channels each)")
    ap.add_argument("--length", type=int, default=64, help="output columns per CONV")
    ap.add_argument("--share", type=int, default=1, help="consecutive CONVs reading one input block")
    args = ap.parse_args(argv)
    figures = measure(args.target, args.convs, args.batch, args.groups, args.length, args.share)
    print(f"{args.convs} CONV (3x3, 8x{args.length} pixels, {args.groups} input group(s), {args.share} per "
          f"input block) on {args.target}, batch {args.batch}")
    print(f"{'run':6} {'seconds':>9} {'instr/s':>10} {'GMAC/s':>8}")
    for label, f in figures.items():
        print(f"{label:6} {f['seconds']:9.3f} {f['instr_per_s']:10.0f} {f['macs_per_s'] / 1e9:8.2f}")


if __name__ == "__main__":
    main()
