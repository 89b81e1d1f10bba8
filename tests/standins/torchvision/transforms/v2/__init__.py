"""Stand-in for ``torchvision.transforms.v2`` (see the ``torchvision`` stand-in)."""

from . import functional  # noqa: F401
