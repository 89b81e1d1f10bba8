"""What ``.device/`` holds for a lent GPU machine, and reading it back there.

``ci/device-check.sh --prepare`` (``device_check.py --prepare-from WHEELS``) writes it where
PyPI is reachable: per SGLang release, a zip of the files the checks read of its wheel,
with the wheel's file list; unipatch and packaging wheels; ``manifest.json`` with every
file's hash. At most 60 MiB (what one call to that machine carries is limited).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipfile
from pathlib import Path

# What --prepare carries of each SGLang wheel: the Python files of the packages the checks
# read code from, the version files, every file the engine's plan reads and every file the
# scripts could take code from (real_code.reach: a method's helpers, where it imports them
# from); plus the list of all the wheel's files, so a read of one left behind is caught
# (real_code.CarriedTree).
CARRIED_DIRS = ("sglang/srt/layers/attention/", "sglang/srt/speculative/", "sglang/srt/model_executor/",
                "sglang/srt/utils/", "sglang/srt/configs/", "sglang/srt/managers/", "sglang/kernels/ops/speculative/")
CARRIED_FILES = ("sglang/__init__.py", "sglang/version.py", "sglang/_version.py", "sglang/srt/__init__.py",
                 "sglang/srt/utils.py", "sglang/srt/server_args.py")
MAX_BYTES = 60 * 1024 * 1024


def carried(name: str) -> bool:
    return (name.endswith(".py") and (name.startswith(CARRIED_DIRS) or name in CARRIED_FILES)
            or (name.startswith("sglang-") and name.endswith(".dist-info/METADATA")))


def subset_of_wheel(wheel: Path, dest: Path) -> dict:
    """Write ``dest`` (a zip): the files of ``wheel`` the device check reads. Returns what it holds."""
    import real_code
    from sglang_spec_patches import engine

    with zipfile.ZipFile(wheel) as zf, tempfile.TemporaryDirectory(prefix="device-prepare-") as tmp:
        names = [n for n in zf.namelist() if not n.endswith("/")]
        zf.extractall(tmp)
        tree = engine.SourceTree(tmp)
        plan = engine.plan(tree, disabled=())
        read = tree.files_read()
        for patched in (False, True):  # and what the scripts take out of it, helpers included
            sources = real_code.Sources(tmp, patched)
            for name in real_code.LOCATIONS:
                try:
                    real_code.reach(sources, name)
                except LookupError:
                    pass  # not in this release
            read |= sources.tree.files_read()
        keep = sorted({n for n in names if carried(n)} | read)
        with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
            for name in keep:
                out.writestr(name, zf.read(name))
            out.writestr(real_code.WHEEL_FILES, "\n".join(names) + "\n")
    return {"wheel": wheel.name, "wheel_sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
            "files": len(keep), "of": len(names), "version": tree.version(),
            "plan": {d.fix: d.state for d in plan.decisions}}


def prepare(wheels: dict[str, Path], deps: list[Path], device_dir: Path) -> dict:
    """Fill ``device_dir`` (replaced only when all of it fits): a subset zip per SGLang
    wheel, the dependency wheels, and manifest.json with their hashes."""
    tmp = device_dir.with_name(device_dir.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    manifest = {"format": 2, "releases": {}, "sources": {}}
    for version, wheel in sorted(wheels.items()):
        name = f"sglang-{version}-device-subset.zip"
        manifest["sources"][version] = subset_of_wheel(wheel, tmp / name)
        manifest["releases"][version] = name
    for dep in deps:
        (tmp / dep.name).write_bytes(dep.read_bytes())
        manifest[dep.name.split("-")[0]] = dep.name
    manifest["sha256"] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(tmp.iterdir())}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    size = sum(p.stat().st_size for p in tmp.iterdir())
    if size > MAX_BYTES:
        shutil.rmtree(tmp)
        raise ValueError(f"{device_dir.name}/ would be {size} bytes, over 60 MiB: nothing replaced")
    if device_dir.exists():
        shutil.rmtree(device_dir)
    tmp.rename(device_dir)
    manifest["bytes"] = size
    return manifest


def read_manifest(device_dir: Path) -> dict:
    """The manifest, every file in it present with its hash; ValueError naming what is wrong."""
    path = device_dir / "manifest.json"
    if not path.is_file():
        raise ValueError(f"{path} not found: run `bash ci/device-check.sh --prepare` where PyPI is reachable, "
                         f"and carry {device_dir.name}/ to the GPU machine")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    for name, digest in manifest["sha256"].items():
        wheel = device_dir / name
        if not wheel.is_file():
            raise ValueError(f"{wheel} listed in the manifest is missing")
        if hashlib.sha256(wheel.read_bytes()).hexdigest() != digest:
            raise ValueError(f"{wheel} does not match its hash in the manifest")
    return manifest


def extract_source(device_dir: Path, manifest: dict, version: str, root: Path) -> None:
    with zipfile.ZipFile(device_dir / manifest["releases"][version]) as zf:
        zf.extractall(root)


def planned(root: Path):
    """The engine's plan of a carried release; ValueError when it read a file not carried."""
    import real_code
    from sglang_spec_patches import engine

    tree = real_code.source_tree(root)
    plan = engine.plan(tree, disabled=())
    missing = sorted(getattr(tree, "missing", ()))
    if missing:
        raise ValueError(f"this checkout reads {', '.join(missing[:5])} of the release, which .device/ does not "
                         f"carry: rerun `bash ci/device-check.sh --prepare`")
    return plan
