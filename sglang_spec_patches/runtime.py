"""Per-process state: settings from the environment, the plan, and what happened.

Everything a process did is kept in ``RECORD`` (see ``report()``), and, when
``SGLANG_SPEC_PATCHES_LOG_DIR`` is set, written there as one JSON line per process
(rewritten atomically as events arrive, so a worker killed later still leaves it).
"""

from __future__ import annotations

# Loaded on the first SGLang import (not at interpreter start) and by the plugin: only
# built-in modules here; json and pathlib are imported when something is recorded.
import _thread
import os
import sys
import time

MODE_ENV = "SGLANG_SPEC_PATCHES"
DISABLE_ENV = "SGLANG_SPEC_PATCHES_DISABLE"
LOG_DIR_ENV = "SGLANG_SPEC_PATCHES_LOG_DIR"
MODES = ("off", "on", "strict")


class StrictModeError(ImportError):
    """Raised only in strict mode, when a fix is declined or cannot be applied."""


class Settings:
    __slots__ = ("mode", "disabled", "log_dir")

    def __init__(self, mode: str, disabled: frozenset[str], log_dir: str | None):
        self.mode, self.disabled, self.log_dir = mode, disabled, log_dir

    def __repr__(self) -> str:
        return f"Settings(mode={self.mode!r}, disabled={set(self.disabled)!r}, log_dir={self.log_dir!r})"

    @classmethod
    def from_env(cls, environ=os.environ) -> "Settings":
        mode = environ.get(MODE_ENV, "on").strip().lower() or "on"
        if mode in ("0", "false", "no"):
            mode = "off"
        if mode not in MODES:
            warn(f"{MODE_ENV}={mode!r} is not one of {', '.join(MODES)}; using 'on'")
            mode = "on"
        disabled = frozenset(x.strip() for x in environ.get(DISABLE_ENV, "").split(",") if x.strip())
        return cls(mode, disabled, environ.get(LOG_DIR_ENV) or None)


def warn(message: str) -> None:
    """One line on stderr: the shim never raises into SGLang outside strict mode."""
    try:
        sys.stderr.write(f"sglang-spec-patches [pid {os.getpid()}]: {message}\n")
    except Exception:  # a closed stderr must not break an import
        pass


LOCK = _thread.RLock()
RECORD: dict = {
    "pid": os.getpid(),
    "argv": list(sys.argv) if hasattr(sys, "argv") else [],
    "started": time.time(),
    "mode": None,
    "sglang_root": None,
    "sglang_version": None,
    "fixes": [],
    "plan": None,  # "decided" here, or "read from cache" (plancache.py)
    "modules": {},  # module name -> {"how": "import-hook" | "live", "fixes": [...], ...}
    "problems": [],
}


def record_plan(plan, settings: Settings) -> None:
    with LOCK:
        RECORD.update(
            mode=settings.mode,
            sglang_root=str(plan.root),
            sglang_version=plan.version,
            fixes=list(plan.decisions),
            plan="read from cache" if plan.from_cache else "decided",
        )
    flush(settings)


def record_module(name: str, entry: dict, settings: Settings) -> None:
    with LOCK:
        RECORD["modules"][name] = entry
    flush(settings)


def record_problem(message: str, settings: Settings) -> None:
    with LOCK:
        RECORD["problems"].append(message)
    warn(message)
    flush(settings)


def flush(settings: Settings) -> None:
    if not settings.log_dir:
        return
    import json
    from pathlib import Path

    try:
        folder = Path(settings.log_dir)
        folder.mkdir(parents=True, exist_ok=True)
        with LOCK:
            RECORD["pid"] = os.getpid()
            line = json.dumps(RECORD, sort_keys=True)
        target = folder / f"process-{os.getpid()}.jsonl"
        tmp = target.with_suffix(f".tmp{_thread.get_ident()}")
        tmp.write_text(line + "\n", encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        warn(f"cannot write the log to {settings.log_dir}: {exc}")


def report() -> dict:
    """A copy of what this process decided and patched."""
    import json

    with LOCK:
        return json.loads(json.dumps(RECORD))
