"""Trees that look fixed but are not (tests/near_misses/*.py): a fix never reads
``not-applicable`` on them. A wrong ``declined`` costs a warning; a wrong
``not-applicable`` costs a crash."""

import importlib.util
import re
import types
from pathlib import Path

import pytest

from sglang_spec_patches import engine
from test_downstream import build

NEAR_MISSES = Path(__file__).parent / "near_misses"
CASES = sorted(NEAR_MISSES.glob("*.py"))
FIXES = {f.id: f for f in engine.load_fixes()}


def load_case(path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(f"near_miss_{path.stem}", path)
    case = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(case)
    return case


def build_near_miss(case: types.ModuleType, dest: Path, whole: bool = False) -> Path:
    """The release with the case's edits, relabelled to ``VERSION`` when the case says so."""
    build(case, dest, whole=whole)
    version = getattr(case, "VERSION", None)
    if version:
        for rel in ("sglang/version.py", "sglang/_version.py"):
            path = dest / rel
            if path.is_file():
                text = path.read_text(encoding="utf-8")
                path.write_text(re.sub(r"""(__version__\s*=\s*(?:version\s*=\s*)?)['"][^'"]+['"]""",
                                       rf'\g<1>"{version}"', text), encoding="utf-8")
        for info in dest.glob("sglang-*.dist-info"):
            meta = info / "METADATA"
            meta.write_text(re.sub(r"(?m)^Version:.*$", f"Version: {version}", meta.read_text(encoding="utf-8")),
                            encoding="utf-8")
    return dest


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_a_near_miss_is_never_called_fixed(tmp_path, path):
    case = load_case(path)
    assert case.__doc__ and case.FIX in FIXES, f"{path.name}: needs a docstring and a known FIX"
    tree = engine.SourceTree(build_near_miss(case, tmp_path))
    if getattr(case, "VERSION", None):
        assert tree.version() == case.VERSION
    d = engine.plan(tree, [FIXES[case.FIX]]).decision(case.FIX)
    assert d.state in (engine.APPLIES, engine.DECLINED), f"{case.FIX} reads {d.state}: {d.reason}"


# Every fix in the catalog is tried on at least three trees, and on one editable build
# where it has an upstream marker.
COVERED = tuple(sorted(FIXES))


def test_every_fix_is_tried_on_three_trees_and_an_editable_build():
    cases = [load_case(p) for p in CASES]
    for fix_id in COVERED:
        mine = [c for c in cases if c.FIX == fix_id]
        assert len(mine) >= 3, f"{fix_id}: {len(mine)} near misses"
        if FIXES[fix_id].markers:
            assert any(getattr(c, "VERSION", "").startswith("0.0.0.dev") for c in mine), fix_id
