"""vaiq.nn.modules: pytorch_nndct's ``nn.modules`` namespace (``functional`` holds Add, Cat, ...)."""
