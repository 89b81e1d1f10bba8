"""Stand-in for ``torchvision.transforms.v2.functional`` (see the ``torchvision`` stand-in):
the module only has to exist; ``transformers`` calls into it when processing images."""
