"""Which sglang-spec-patches the SGLang processes of a GPU run will use.

``python shim_origin.py CHECKOUT`` (run from outside the checkout, so that the current
directory does not put the checkout's package first) prints one line and exits:

* 0 - the package this Python imports is the checkout's (editable install), or an
  installed copy whose code and diffs are byte for byte the checkout's;
* 3 - an installed copy that differs from the checkout: the engine runs would test the
  installed diffs, not the checkout's (the files that differ are named);
* 4 - not installed in this Python.

The engine runs need the installed shim (its .pth arms the hook in every SGLang
process), so an outdated installed copy silently shadows the checkout under test.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

SAME, DIFFERENT, MISSING = 0, 3, 4


# The start-up files sit beside the package: at the top of site-packages, or of the checkout.
START_FILES = ("_sglang_spec_patches_start.py", "sglang_spec_patches.pth", "sglang_spec_patches.start")


def _digests(package: Path, fixes: Path) -> dict[str, str]:
    """relative name -> sha256 of the code, the start-up files and the fix files (``patches/<id>/...``)."""
    files = {}
    for path in package.glob("*.py"):
        files[path.name] = path
    for name in START_FILES:
        if (package.parent / name).is_file():
            files[f"../{name}"] = package.parent / name
    for path in fixes.glob("*/*"):  # what the engine reads; not the fix folders' tests and scripts
        if path.is_file() and (path.suffix in (".json", ".diff") or path.name == "fixed_when.py"):
            files[f"patches/{path.parent.name}/{path.name}"] = path
    return {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in files.items()}


def compare(installed: Path, checkout: Path) -> list[str]:
    """Names of the files that differ between an installed package and the checkout."""
    mine = _digests(checkout / "sglang_spec_patches", checkout / "patches")
    theirs = _digests(installed, installed / "patches")
    return sorted(name for name in set(mine) | set(theirs) if mine.get(name) != theirs.get(name))


def main(argv=None) -> int:
    checkout = Path((argv or sys.argv[1:])[0]).resolve()
    try:
        spec = importlib.util.find_spec("sglang_spec_patches")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        print("sglang-spec-patches is not installed in this Python")
        return MISSING
    installed = Path(list(spec.submodule_search_locations)[0]).resolve()
    if installed == checkout / "sglang_spec_patches":
        print(f"sglang-spec-patches: this checkout ({installed}, editable install)")
        return SAME
    differ = compare(installed, checkout)
    if differ:
        shown = ", ".join(differ[:8]) + (f" and {len(differ) - 8} more" if len(differ) > 8 else "")
        print(f"sglang-spec-patches installed at {installed} differs from this checkout ({shown})")
        return DIFFERENT
    print(f"sglang-spec-patches installed at {installed}: same code and diffs as this checkout")
    return SAME


if __name__ == "__main__":
    sys.exit(main())
