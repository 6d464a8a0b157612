"""vaiq.nn: pytorch_nndct's ``nn`` namespace (modules scripts written for the original import)."""
