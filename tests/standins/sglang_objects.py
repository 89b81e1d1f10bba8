"""Real SGLang objects for CPU mechanism tests, built the way the tests need them.

Imported inside a subprocess that has one SGLang release on its path. Nothing here is
a stand-in: these helpers only locate the release's own classes and functions and
build its own objects without the steps that need a GPU or a model.
"""

from __future__ import annotations

import dataclasses
import importlib


def release_attr(name, *modules):
    """``name`` from the first of ``modules`` that defines it (code moves between
    releases, e.g. ``EagleVerifyInput`` from ``eagle_utils`` to ``eagle_info``)."""
    for module in modules:
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"{name} not found in any of {modules}")


def server_args_with_defaults(**overrides):
    """The release's real ``ServerArgs`` with its declared defaults, then ``overrides``.

    ``__post_init__`` is skipped because it probes the GPU and the model; what it would
    derive (e.g. ``cuda_graph_max_bs``) is left at the declared default unless given.
    """
    from sglang.srt.server_args import ServerArgs

    args = object.__new__(ServerArgs)
    for f in dataclasses.fields(ServerArgs):
        if f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        else:
            value = None
        setattr(args, f.name, value)
    for name, value in overrides.items():
        if not hasattr(args, name):
            raise AttributeError(f"this release's ServerArgs has no field {name!r}")
        setattr(args, name, value)
    return args
