"""Backported fixes for SGLang's EAGLE/MTP speculative decoding, applied on import.

The wheel's ``.pth`` (and PEP 829 ``.start``) imports this package in every Python
process, so SGLang's spawned schedulers and Ray workers are covered without any import.
That costs one small module: it only puts a placeholder finder on ``sys.meta_path``,
and the hook itself (``_startup``, ``runtime``, ``hook``, the engine) is loaded on the
first ``sglang.srt.`` import. ``import sglang_spec_patches`` does the same (idempotent);
imported after SGLang, it fixes the modules already loaded at once.

Environment: ``SGLANG_SPEC_PATCHES=off|on|strict``, ``SGLANG_SPEC_PATCHES_DISABLE=id,...``,
``SGLANG_SPEC_PATCHES_LOG_DIR=dir``.
"""

# Runs at every interpreter start: only modules Python has already loaded, nothing else.
import os as _os
import sys as _sys

__version__ = "0.1.0"
__all__ = ["activate", "arm", "report", "__version__"]

_OFF = ("off", "0", "false", "no")  # the values runtime.Settings reads as "off"


class FirstSGLangImport:
    """Placeholder on ``sys.meta_path`` until SGLang is imported: on the first
    ``sglang.srt.`` name it loads the real hook, which takes its place, and asks it."""

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith("sglang.srt."):
            return None
        from ._startup import activate

        finder = activate()  # the hook replaces this placeholder where it stands
        if finder is None:  # off, or failed (reported): stop asking
            _sys.meta_path[:] = [f for f in _sys.meta_path if not isinstance(f, FirstSGLangImport)]
            return None
        return finder.find_spec(fullname, path, target)


def arm() -> None:
    """Arm the hook for this process (idempotent); also the ``.start`` entry point."""
    if _os.environ.get("SGLANG_SPEC_PATCHES", "").strip().lower() in _OFF:
        return
    if "sglang" in _sys.modules and any(name.startswith("sglang.srt.") for name in _sys.modules):
        from ._startup import activate

        activate()  # SGLang came first: fix what is loaded now
    elif not any(type(f).__module__ in (__name__, __name__ + ".hook") for f in _sys.meta_path):
        _sys.meta_path.insert(0, FirstSGLangImport())


def __getattr__(name):
    # ``activate`` and ``report`` load the rest of the package only when asked for.
    if name == "activate":
        from ._startup import activate

        return activate
    if name == "report":
        from .runtime import report

        return report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


arm()
