"""vairun: the runtime of compiled DPU models and the DPU emulator (``vairun.emu``)."""
