"""The arch/ library, installed as package data ``xir.arch_data``: ``FAMILY/BOARD/arch.json`` files.

Generated from xir/target/catalog.py by scripts/gen_arch.py; this file only makes the directory an
importable package so ``importlib.resources`` finds it in editable installs too.
"""
