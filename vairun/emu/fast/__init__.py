"""The fast executor of the emulator (the default): the same instructions as vairun/emu/reference.py,
with plans, fused programs, im2col and weight caches, batch threads and the BLAS thread cap.
Nothing here is a contract rule; every result equals the reference executor's."""
