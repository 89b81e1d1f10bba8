"""The release path: the sdist carries everything the wheel build needs, the wheel built
from it (``ci/build-dist.sh``, what release tooling and pip do with an sdist) holds the
start-up files at the top of site-packages and every fix's data, both pass
``twine check --strict``, and the metadata says what the package index shows.

The same wheel is the one every other test installs (the ``shim_wheel`` fixture): the
layouts of tests/test_layouts.py put it in fresh venvs beside a real SGLang release and
see the patched module in a spawned child and a readable ``status``. Here it is installed
into a fresh venv of every Python version the classifiers claim.
"""

import email.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from sglang_releases import fetch_wheel, unpack

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
START_FILES = ("sglang_spec_patches.pth", "sglang_spec_patches.start", "_sglang_spec_patches_start.py")
FIX_DATA = ("fix.json", "fixed_when.py", "README.md")
RELEASE = "0.5.2"  # a known-affected release: draft-padding-positions applies


def fix_folders() -> list[Path]:
    return sorted(p.parent for p in (REPO / "patches").glob("*/fix.json"))


def version() -> str:
    text = (REPO / "sglang_spec_patches" / "__init__.py").read_text(encoding="utf-8")
    return re.search(r'^__version__ = "([^"]+)"$', text, re.M)[1]


@pytest.fixture(scope="module")
def sdist(shim_wheel) -> Path:
    found = sorted(shim_wheel.parent.glob("sglang_spec_patches-*.tar.gz"))
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(scope="module")
def wheel_names(shim_wheel) -> set[str]:
    with zipfile.ZipFile(shim_wheel) as zf:
        return set(zf.namelist())


@pytest.fixture(scope="module")
def metadata(shim_wheel):
    with zipfile.ZipFile(shim_wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return email.parser.Parser().parsestr(zf.read(name).decode("utf-8"))


def test_both_files_carry_the_one_version(shim_wheel, sdist):
    v = version()
    assert shim_wheel.name == f"sglang_spec_patches-{v}-py3-none-any.whl"
    assert sdist.name == f"sglang_spec_patches-{v}.tar.gz"


def test_the_sdist_carries_what_the_wheel_build_needs_and_no_tests(sdist):
    with tarfile.open(sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    needed = {*START_FILES, "setup.py", "pyproject.toml", "MANIFEST.in", "LICENSE", "README.md", "CHANGELOG.md"}
    for folder in fix_folders():
        rel = folder.relative_to(REPO).as_posix()
        needed |= {f"{rel}/{n}" for n in FIX_DATA} | {f"{rel}/{d.name}" for d in folder.glob("*.diff")}
    assert needed <= names, sorted(needed - names)
    assert not [n for n in names if n.startswith("tests/") or Path(n).name.startswith("test_")]


def test_twine_check_strict_passes_on_both(shim_wheel, sdist):
    proc = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(shim_wheel)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("PASSED") == 2, proc.stdout


def test_the_wheel_puts_the_start_up_files_at_the_top_of_site_packages(wheel_names, shim_wheel):
    assert set(START_FILES) <= wheel_names
    with zipfile.ZipFile(shim_wheel) as zf:
        for name in START_FILES:  # byte for byte what the checkout has
            assert zf.read(name) == (REPO / name).read_bytes(), name


def test_the_wheel_holds_every_fix_and_the_license_and_no_tests(wheel_names):
    for folder in fix_folders():
        shipped = f"sglang_spec_patches/patches/{folder.name}/"
        expected = {shipped + n for n in FIX_DATA} | {shipped + d.name for d in folder.glob("*.diff")}
        assert expected <= wheel_names, sorted(expected - wheel_names)
    assert any(re.fullmatch(r"sglang_spec_patches-[^/]+\.dist-info/licenses/LICENSE", n) for n in wheel_names)
    tests = [n for n in wheel_names if Path(n).name.startswith(("test_", "conftest")) or Path(n).name == "reproduce.py"
             or n.startswith("tests/")]
    assert not tests


def test_the_metadata_is_what_the_package_index_shows(metadata):
    assert metadata["Name"] == "sglang-spec-patches" and metadata["Version"] == version()
    assert metadata["License-Expression"] == "Apache-2.0" and metadata["License-File"] == "LICENSE"
    assert metadata["Requires-Python"] == ">=3.10"
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert metadata.get_payload().strip() == (REPO / "README.md").read_text(encoding="utf-8").strip()
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL"))
    assert {"Source", "Issues", "Changelog"} <= set(urls) and all(u.startswith("https://") for u in urls.values())
    claimed = claimed_pythons(metadata)
    assert claimed and claimed[0] == "3.10"  # the oldest claimed version is the one Requires-Python names
    runtime = sorted(r for r in metadata.get_all("Requires-Dist") if ";" not in r)
    assert runtime == ["packaging>=21", "unipatch<2,>=1.0.1"]  # the runtime needs nothing else


def claimed_pythons(metadata) -> list[str]:
    found = [c.rsplit(" :: ", 1)[1] for c in metadata.get_all("Classifier")
             if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)]
    return sorted(found, key=lambda v: tuple(map(int, v.split("."))))


def _claimed_from_pyproject() -> list[str]:
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    return sorted(set(re.findall(r'"Programming Language :: Python :: (3\.\d+)"', text)),
                  key=lambda v: tuple(map(int, v.split("."))))


def find_python(version: str) -> str | None:
    """An interpreter of that version: on PATH, else an installed pyenv version (whose
    PATH shim answers only for the versions pyenv is told to use)."""
    candidates = [shutil.which(f"python{version}")]
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += sorted(str(p) for p in root.glob(f"versions/{version}.*/bin/python{version}"))
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


@pytest.mark.parametrize("python", _claimed_from_pyproject())
def test_the_wheel_installs_and_runs_on_every_python_it_claims(tmp_path, shim_wheel, python):
    """A fresh venv of that Python, the wheel and a real SGLang release (no deps): the
    start-up file runs, ``status`` reads the installed SGLang and the fix that release
    needs applies."""
    interpreter = find_python(python)
    if interpreter is None:
        pytest.skip(f"no Python {python} interpreter on this machine (PATH or pyenv)")
    venv = tmp_path / "venv"
    subprocess.run([interpreter, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    pip = [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, str(shim_wheel)], check=True)  # its dependencies from the index
    subprocess.run([*pip, "--no-deps", str(fetch_wheel(RELEASE))], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME") and not k.startswith("SGLANG_")}
    armed = subprocess.run([str(py), "-c", "import sys; print(any(getattr(f, '__name__', '') == "
                            "'_sglang_spec_patches_start' for f in sys.meta_path))"],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
    assert armed.stdout.strip() == "True", armed.stderr  # the .pth ran at start-up
    proc = subprocess.run([str(venv / "bin" / "sglang-spec-patches"), "status", "--json"],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    assert report["sglang_version"] == RELEASE and report["activation"]["pth"], report
    states = {d["fix"]: d["state"] for d in report["fixes"]}
    assert states["draft-padding-positions"] == "applies"
    plan = subprocess.run([str(venv / "bin" / "sglang-spec-patches"), "plan", "--sglang-root", str(unpack(RELEASE))],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert plan.returncode in (0, 1) and "draft-padding-positions" in plan.stdout, plan.stderr


# --- the release workflow and its checks ---------------------------------------------------

sys.path.insert(0, str(REPO / "ci"))
import release  # noqa: E402  (ci/release.py)


def tiny_repo(root: Path, version="1.2.3", heading="## 1.2.3 (2026-12-08)", owner="acme/spec") -> Path:
    (root / "sglang_spec_patches").mkdir(parents=True)
    (root / "sglang_spec_patches" / "__init__.py").write_text(f'"""doc"""\n\n__version__ = "{version}"\n')
    (root / "CHANGELOG.md").write_text(f"# Changelog\n\n## 9.9.9 (unreleased)\n\n- next\n\n{heading}\n\n- a fix\n\n"
                                       "## 1.0.0\n\n- first\n")
    (root / "pyproject.toml").write_text(f'[project.urls]\nSource = "https://github.com/{owner}"\n'
                                         f'Issues = "https://github.com/{owner}/issues"\n')
    return root


def test_release_check_passes_a_tag_that_matches_a_released_section(tmp_path):
    repo = tiny_repo(tmp_path)
    assert release.problems("v1.2.3", "acme/spec", repo) == []
    assert release.changelog_section("1.2.3", repo) == ("(2026-12-08)", "- a fix\n")


@pytest.mark.parametrize("tag, repository, heading, says", [
    ("v1.2.4", None, "## 1.2.3 (2026-12-08)", "does not match the package version '1.2.3'"),
    ("1.2.3", None, "## 1.2.3 (2026-12-08)", "expected 'v1.2.3'"),
    ("v1.2.3", None, "## 1.2.3 (unreleased)", "still marks 1.2.3 unreleased"),
    ("v1.2.3", None, "## 1.2.2", "no '## 1.2.3' section"),
    ("v1.2.3", "other/fork", "## 1.2.3 (2026-12-08)", "do not point at other/fork"),
])
def test_release_check_refuses_what_would_publish_the_wrong_thing(tmp_path, tag, repository, heading, says):
    found = release.problems(tag, repository, tiny_repo(tmp_path, heading=heading))
    assert len(found) == 1 and says in found[0], found


def test_this_checkout_cannot_be_released_while_its_changelog_says_unreleased():
    v = version()
    unreleased = "unreleased" in (release.changelog_section(v) or ("unreleased", ""))[0].lower()
    assert (release.problems(f"v{v}") != []) == unreleased
    assert release.problems("v0.0.0-not-this")  # a wrong tag is refused whatever the CHANGELOG says


def test_release_cli_prints_the_notes_and_exits_2_on_a_bad_tag(tmp_path):
    script = REPO / "ci" / "release.py"
    notes = subprocess.run([sys.executable, str(script), "notes", version()], capture_output=True, text=True)
    assert notes.returncode == 0 and notes.stdout.startswith("- ")
    bad = subprocess.run([sys.executable, str(script), "check", "v0.0.0-not-this"], capture_output=True, text=True)
    assert bad.returncode == 2 and "does not match the package version" in bad.stderr and not bad.stdout


def test_the_release_workflow_builds_once_checks_and_publishes_without_a_stored_token():
    text = (REPO / ".github" / "workflows" / "release.yml").read_text(encoding="utf-8")
    assert re.search(r"tags:\s*\[\"v\*\"\]", text)
    assert "ci/release.py check \"$GITHUB_REF_NAME\"" in text
    assert text.count("ci/build-dist.sh") == 1 and "twine check --strict" in text
    assert "id-token: write" in text and "pypa/gh-action-pypi-publish" in text
    assert "secrets." not in text and "password" not in text  # trusted publishing only
    assert "--notes-file release-notes.md" in text and "ci/release.py notes" in text
