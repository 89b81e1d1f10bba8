"""Process start: arm the hook. Run from the .pth/.start file, the SGLang plugin and
``import sglang_spec_patches``. Imports nothing heavy and never raises outside strict
mode: a broken shim must not stop Python or SGLang from starting."""

from __future__ import annotations

import sys


def activate() -> None:
    from . import runtime

    settings = runtime.Settings.from_env()
    if settings.mode == "off":
        return
    try:
        from . import hook

        finder = hook.install(settings)
        if any(name.startswith("sglang.srt.") for name in list(sys.modules)):
            from . import livepatch

            with runtime.LOCK:
                livepatch.patch_imported(finder.state)
    except runtime.StrictModeError:
        raise
    except Exception as exc:
        if settings.mode == "strict":
            raise
        runtime.record_problem(f"activation failed: {type(exc).__name__}: {exc}", settings)


def arm() -> None:
    """Entry for the .pth / .start file; swallows even strict-mode errors at interpreter start
    (site.py would print them and carry on anyway) but reports them."""
    try:
        activate()
    except Exception as exc:  # pragma: no cover - reported, not raised, at start-up
        sys.stderr.write(f"sglang-spec-patches: not armed: {type(exc).__name__}: {exc}\n")
