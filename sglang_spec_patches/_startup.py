"""Activation: put the real hook in place and fix SGLang modules already loaded.

Called by the placeholder finder on the first ``sglang.srt.`` import, by the SGLang
plugin, and by ``import sglang_spec_patches`` after SGLang. Never raises outside strict
mode: a broken shim must not stop SGLang from starting.
"""

from __future__ import annotations

import sys


def activate():
    """Install the hook (idempotent) and return it; None when off or when it failed."""
    from . import runtime

    settings = runtime.Settings.from_env()
    if settings.mode == "off":
        return None
    try:
        from . import hook

        finder = hook.install(settings)
        if any(name.startswith("sglang.srt.") for name in list(sys.modules)):
            from . import livepatch

            with runtime.LOCK:
                livepatch.patch_imported(finder.state)
        return finder
    except runtime.StrictModeError:
        raise
    except Exception as exc:
        if settings.mode == "strict":
            raise
        runtime.record_problem(f"activation failed: {type(exc).__name__}: {exc}", settings)
        return None
