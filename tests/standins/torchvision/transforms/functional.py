"""Stand-in for ``torchvision.transforms.functional`` (see the ``torchvision`` stand-in)."""


def pil_to_tensor(*args, **kwargs):
    raise NotImplementedError("torchvision stand-in: image transforms are not available")


def __getattr__(name):
    # The real module re-exports ``InterpolationMode``; resolved lazily to avoid an import cycle.
    if name == "InterpolationMode":
        from . import InterpolationMode

        return InterpolationMode
    raise AttributeError(f"torchvision stand-in has no {name!r}")
