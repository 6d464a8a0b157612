"""Build of the optional compiled kernels (vairun/emu/fast/_native.c); everything else is declared in
pyproject.toml. Without a C compiler the install still succeeds and the emulator runs its numpy
kernels (docs/vairun.md, "Kernels")."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("vairun.emu.fast._native", ["vairun/emu/fast/_native.c"], optional=True)])
