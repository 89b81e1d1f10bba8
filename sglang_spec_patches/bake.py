"""Bake mode: write the plan's patched texts into the SGLang tree on disk.

The text written is ``plan.texts`` - the very text the import hook compiles - so both
modes produce the same bytes. Each file is written to a temporary file beside it and
renamed over the original; stale bytecode of that module is removed so an old
``.pyc`` cannot bring the unpatched code back.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from . import engine


def stale_bytecode(path: Path) -> list[Path]:
    cache = path.parent / "__pycache__"
    return sorted(cache.glob(f"{path.stem}.*.pyc")) if cache.is_dir() else []


def atomic_write(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_plan(plan: engine.Plan, dry_run: bool = False) -> list[str]:
    """Write every file the plan changes; return their relative paths."""
    root = Path(plan.root)
    for rel in plan.texts:
        if not os.access(root / rel, os.W_OK) or not os.access((root / rel).parent, os.W_OK):
            raise PermissionError(f"{root / rel} is not writable; nothing was changed")
    if not dry_run:
        for rel, text in plan.texts.items():
            atomic_write(root / rel, text)
            for pyc in stale_bytecode(root / rel):
                pyc.unlink(missing_ok=True)
    return sorted(plan.texts)
