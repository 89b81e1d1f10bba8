"""Backported fixes for SGLang's EAGLE/MTP speculative decoding, applied on import.

``import sglang_spec_patches`` arms the import hook (idempotent). The wheel also ships
a ``.pth`` (and a PEP 829 ``.start``) that does the same in every Python process, so
SGLang's spawned schedulers and Ray workers are covered without any import.

Environment: ``SGLANG_SPEC_PATCHES=off|on|strict``, ``SGLANG_SPEC_PATCHES_DISABLE=id,...``,
``SGLANG_SPEC_PATCHES_LOG_DIR=dir``.
"""

from ._startup import activate
from .runtime import report

__version__ = "0.1.0"
__all__ = ["activate", "report", "__version__"]

activate()
