"""Stand-in for ``torchvision.transforms`` (see the ``torchvision`` stand-in): only the
names SGLang imports at module level."""

import enum

from . import functional


class InterpolationMode(enum.Enum):
    # Same members and values as the real enum; SGLang only names them.
    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"
