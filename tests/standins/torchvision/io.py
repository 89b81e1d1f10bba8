"""Stand-in for ``torchvision.io`` (see the ``torchvision`` stand-in): names that
``transformers`` imports at module level once it sees a torchvision package."""

import enum


class ImageReadMode(enum.Enum):
    UNCHANGED = 0
    GRAY = 1
    GRAY_ALPHA = 2
    RGB = 3
    RGB_ALPHA = 4


def _unavailable(*args, **kwargs):
    raise NotImplementedError("torchvision stand-in: image decoding is not available")


decode_image = decode_jpeg = _unavailable
