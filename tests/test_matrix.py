"""A bounded slice of the release matrix (ci/matrix.py), and the checks it relies on.

The slice re-derives the rows of a few releases, one per code family, and compares them
with the checked-in ci/support-matrix.json: a fix changed without re-generating the
table fails here. The other tests build small synthetic wheels and fixes to show that
each matrix check can fail.
"""

import json
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

from sglang_releases import fetch_wheel
from sglang_spec_patches import engine

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "ci"))
import matrix  # noqa: E402

# One release per family boundary: all fixes (0.4.10), draft-context-length's 0.5.1 family,
# verify-mask-padding's and ngram-verify-mask's 0.5.3rc2 families, draft-padding-buffers'
# 0.5.10rc0 family (and the capture-bs fixes' first), the first release with the
# sglang.srt.plugins group (0.5.11), draft-seq-lens-sum's 0.5.13 family, slime's 0.5.15.post1
# (draft-mla-kv-indptr-capture-bs and disable-padding-graph-key left), then nothing left to
# fix (0.5.20).
SLICE = ["0.4.10", "0.5.1", "0.5.3rc2", "0.5.10.post1", "0.5.11", "0.5.13", "0.5.15.post1", "0.5.20"]
FIXES = engine.load_fixes()
TABLE = json.loads(matrix.TABLE_JSON.read_text(encoding="utf-8"))


@pytest.mark.parametrize("version", SLICE)
def test_release_row_matches_the_checked_in_table(version, tmp_path):
    entry = matrix.check_release(version, Path(fetch_wheel(version)), FIXES, tmp_path)
    assert entry["errors"] == []
    assert all(cell["state"] != matrix.DECLINED for cell in entry["fixes"].values())
    row = next((r for r in TABLE["releases"] if r["version"] == version), None)
    assert row is not None, f"{version} missing from ci/support-matrix.json"
    assert entry == row, "ci/support-matrix.json is out of date: run ci/matrix.py"


def test_checked_in_table_is_current_rendering_for_current_fixes():
    assert TABLE["fixes"] == matrix.fix_columns(FIXES), "a fix changed: run ci/matrix.py"
    assert matrix.render_md(TABLE) == matrix.TABLE_MD.read_text(encoding="utf-8")
    versions = [r["version"] for r in TABLE["releases"]]
    assert versions == matrix.sort_versions(versions) and versions[0] == "0.4.10"
    assert not any(r["errors"] for r in TABLE["releases"])


def test_check_only_fails_on_a_stale_table(tmp_path, monkeypatch):
    md, js = tmp_path / "m.md", tmp_path / "m.json"
    shutil.copy(matrix.TABLE_MD, md)
    shutil.copy(matrix.TABLE_JSON, js)
    monkeypatch.setattr(matrix, "TABLE_MD", md)
    monkeypatch.setattr(matrix, "TABLE_JSON", js)
    args = ["--releases", "0.5.13", "--check-only", "--jobs", "1"]
    assert matrix.main(args) == 0
    stale = json.loads(js.read_text())
    row = next(r for r in stale["releases"] if r["version"] == "0.5.13")
    row["fixes"]["draft-kv-indices-topk"]["state"] = matrix.FIXES
    js.write_text(matrix.render_json(stale))
    assert matrix.main(args) == 1
    assert json.loads(js.read_text()) == stale  # check-only writes nothing


def test_shards_cover_every_release_once():
    versions = [r["version"] for r in TABLE["releases"]]
    parts = [matrix.shard(versions, f"{k}/4") for k in range(1, 5)]
    assert sorted(sum(parts, []), key=versions.index) == versions
    with pytest.raises(matrix.MatrixError):
        matrix.shard(versions, "5/4")


# --------------------------------------------------------------------------- synthetic

SOURCE = "".join(f"v{n} = {n}\n" for n in range(1, 12))
TARGET = "sglang/srt/thing.py"


def make_wheel(tmp_path: Path, version: str, text: str = SOURCE) -> Path:
    wheel = tmp_path / f"sglang-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("sglang/__init__.py", "")
        zf.writestr("sglang/version.py", f'__version__ = "{version}"\n')
        zf.writestr(TARGET, text)
        zf.writestr(f"sglang-{version}.dist-info/METADATA", f"Name: sglang\nVersion: {version}\n")
    return wheel


def hunk(start: int, lines: list[str]) -> str:
    """A one-hunk diff of TARGET; lines are context unless they start with '-' or '+'."""
    body = "".join(f"{x}\n" if x.startswith(("-", "+")) else f" {x}\n" for x in lines)
    n_old = sum(1 for x in lines if not x.startswith("+"))
    n_new = sum(1 for x in lines if not x.startswith("-"))
    return f"--- a/{TARGET}\n+++ b/{TARGET}\n@@ -{start},{n_old} +{start},{n_new} @@\n" + body


def make_fix(root: Path, fix_id: str, families: dict[str, tuple[str, str]], markers=()) -> None:
    folder = root / fix_id
    folder.mkdir(parents=True)
    fams = []
    for name, (releases, diff) in families.items():
        (folder / f"{name}.diff").write_text(diff)
        fams.append({"name": name, "releases": releases, "diff": f"{name}.diff"})
    (folder / "fix.json").write_text(json.dumps({
        "id": fix_id, "title": "synthetic", "upstream": {"issues": [], "prs": []}, "first_fixed": "9.0",
        "families": fams,
        "upstream_markers": [{"file": TARGET, "pattern": p, "means": "synthetic"} for p in markers]}))


def run_synthetic(tmp_path, version="0.4.10", text=SOURCE):
    fixes = engine.load_fixes(tmp_path / "patches")
    work = tmp_path / "work"
    work.mkdir()
    return matrix.check_release(version, make_wheel(tmp_path, version, text), fixes, work)


def test_synthetic_fixes_pass_every_check(tmp_path):
    make_fix(tmp_path / "patches", "a-fix", {"0.4.10": (">=0.4.10", hunk(1, ["v1 = 1", "-v2 = 2", "+v2 = 21", "v3 = 3", "v4 = 4"]))})
    make_fix(tmp_path / "patches", "b-fix", {"0.4.10": (">=0.4.10", hunk(8, ["v8 = 8", "+added = 0", "v9 = 9", "v10 = 10"]))})
    entry = run_synthetic(tmp_path)
    assert entry["errors"] == []
    assert {f: c["state"] for f, c in entry["fixes"].items()} == {"a-fix": "fixes", "b-fix": "fixes"}
    assert entry["modules"] == ["sglang.srt.thing"]


def test_declined_cell_is_an_error(tmp_path):
    make_fix(tmp_path / "patches", "a-fix", {"0.4.10": (">=0.4.10", hunk(1, ["v1 = 1", "-nothing = 0", "+x = 0", "v3 = 3"]))})
    entry = run_synthetic(tmp_path)
    assert entry["fixes"]["a-fix"]["state"] == matrix.DECLINED
    assert any("declined" in e for e in entry["errors"])


def test_fixes_that_compose_in_one_order_only_are_an_error(tmp_path):
    # a-fix (applied first) changes v2; b-fix's change to v4 sits in a-fix's context,
    # so a-fix no longer applies after b-fix.
    make_fix(tmp_path / "patches", "a-fix", {"0.4.10": (">=0.4.10", hunk(1, ["v1 = 1", "-v2 = 2", "+v2 = 21", "v3 = 3", "v4 = 4"]))})
    make_fix(tmp_path / "patches", "b-fix", {"0.4.10": (">=0.4.10", hunk(3, ["v3 = 3", "-v4 = 4", "+v4 = 41", "v5 = 5"]))})
    entry = run_synthetic(tmp_path)
    assert {f: c["state"] for f, c in entry["fixes"].items()} == {"a-fix": "fixes", "b-fix": "fixes"}
    assert any("do not compose" in e for e in entry["errors"])


def test_three_fixes_on_one_file_compose_without_error(tmp_path):
    # Any two of them give a text that lacks the third fix's change; only all three give
    # the plan's text (checked to fail when each pair was compared with the plan's text).
    make_fix(tmp_path / "patches", "a-fix", {"0.4.10": (">=0.4.10", hunk(1, ["v1 = 1", "-v2 = 2", "+v2 = 21", "v3 = 3"]))})
    make_fix(tmp_path / "patches", "b-fix", {"0.4.10": (">=0.4.10", hunk(5, ["v5 = 5", "+added = 0", "v6 = 6"]))})
    make_fix(tmp_path / "patches", "c-fix", {"0.4.10": (">=0.4.10", hunk(9, ["v9 = 9", "-v10 = 10", "+v10 = 101", "v11 = 11"]))})
    entry = run_synthetic(tmp_path)
    assert entry["errors"] == []
    assert {c["state"] for c in entry["fixes"].values()} == {"fixes"}


def test_editable_build_classified_differently_is_an_error(tmp_path):
    # Two families that both match the same source, with different results: the version
    # picks one, an untagged editable build (no version range) the other.
    make_fix(tmp_path / "patches", "a-fix", {
        "0.4.10": (">=0.4.10,<0.5", hunk(1, ["v1 = 1", "-v2 = 2", "+v2 = 21", "v3 = 3", "v4 = 4"])),
        "0.5.0": (">=0.5", hunk(1, ["v1 = 1", "-v2 = 2", "+v2 = 22", "v3 = 3", "v4 = 4"])),
    })
    entry = run_synthetic(tmp_path)
    assert any("as an editable build it is classified differently" in e for e in entry["errors"])


def test_family_that_still_applies_where_upstream_fixed_it_is_an_error(tmp_path):
    # The anchor occurs twice, so the engine refuses it and the check behind the marker says
    # "carries fix";
    # GNU patch -F0 would still apply the diff at the first place.
    make_fix(tmp_path / "patches", "a-fix", {"0.4.10": (">=0.4.10", hunk(1, ["v1 = 1", "-v2 = 2", "+v2 = 21", "v3 = 3"]))},
             markers=["^fixed = 1$"])
    (tmp_path / "patches/a-fix" / engine.FIXED_WHEN_FILE).write_text(  # what proves the marker
        f"def check(read):\n    return 'fixed is 1' if 'fixed = 1' in read({TARGET!r}) else None\n")
    text = "v1 = 1\nv2 = 2\nv3 = 3\nv1 = 1\nv2 = 2\nv3 = 3\nfixed = 1\n"
    entry = run_synthetic(tmp_path, text=text)
    assert entry["fixes"]["a-fix"]["state"] == matrix.CARRIES
    assert any("still applies (GNU patch -F0)" in e for e in entry["errors"])
