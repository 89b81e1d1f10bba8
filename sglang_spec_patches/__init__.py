"""Backported fixes for SGLang's EAGLE/MTP speculative decoding, applied on import.

The wheel's ``.pth`` (and PEP 829 ``.start``) imports the top-level module
``_sglang_spec_patches_start`` in every Python process, so SGLang's spawned schedulers
and Ray workers are covered without any import. It only puts a placeholder finder on
``sys.meta_path``; the hook itself (``_startup``, ``runtime``, ``hook``, the engine) is
loaded on the first ``sglang.srt.`` import. ``import sglang_spec_patches`` arms the
same (idempotent); imported after SGLang, it fixes the modules already loaded at once.

Environment: ``SGLANG_SPEC_PATCHES=off|on|strict``, ``SGLANG_SPEC_PATCHES_DISABLE=id,...``,
``SGLANG_SPEC_PATCHES_LOG_DIR=dir``.
"""

from _sglang_spec_patches_start import arm

__version__ = "0.1.0"
__all__ = ["activate", "arm", "report", "__version__"]


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
