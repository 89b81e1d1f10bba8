"""The install layouts users have, each with real packages on CPU: the shim reaches the
process that imports SGLang's modules, and ``status`` finds the SGLang installed there.

1. pip: ``pip install --no-deps sglang==X`` into a venv, then the shim's wheel.
2. slime: SGLang editable from the release's sdist (``pip install -e --no-deps
   --no-build-isolation``), then the shim's wheel (its .pth sorts after ``__editable__``).
3. Ray, in slime's venv: a real local cluster; an actor that, like slime's engine actor,
   imports SGLang and starts a ``spawn`` child that imports the patched modules.

Each asserts the patched source in the child, with the shim switched off as the control
that must show SGLang's own code. The venvs are built by ``ci/make-layout-env.sh`` (once,
kept in the cache dir) on top of the CPU SGLang environment's packages.
"""

import json
import os
import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path

import pytest

from sglang_releases import CACHE_DIR, RELEASE_ENV, fetch_wheel

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
RELEASE = "0.5.2"
MODULE = "sglang.srt.speculative.eagle_draft_cuda_graph_runner"
FIXED_LINE = "self.positions.zero_()"  # draft-padding-positions
F1 = "draft-padding-positions"

# Imported by the spawn child (by reference, so it lives in a module on PYTHONPATH).
CHILD = textwrap.dedent(
    f"""
    def child(q):
        import inspect, os
        import {MODULE} as m
        q.put({{"pid": os.getpid(), "file": m.__file__,
               "patched": {FIXED_LINE!r} in inspect.getsource(m.EAGLEDraftCudaGraphRunner.replay)}})


    def run_child():
        import multiprocessing as mp
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        p = ctx.Process(target=child, args=(q,))
        p.start()
        got = q.get(timeout=600)
        p.join()
        return got
    """
)


@pytest.fixture(scope="session")
def layout(cpu_env, shim_wheel):
    """``layout(kind)`` -> the venv, built once per inputs, with this checkout's wheel
    (built from its sdist, as a release is)."""
    built = {}

    def get(kind: str) -> Path:
        if kind not in built:
            env_dir = CACHE_DIR / "layouts" / kind
            if kind == "pip":
                fetch_wheel(RELEASE)  # pip installs it from the cache's wheel folder
            env = {**os.environ, "SGLANG": RELEASE}
            subprocess.run(["bash", str(REPO / "ci" / "make-layout-env.sh"), kind, str(env_dir)], check=True, env=env)
            subprocess.run(["bash", str(REPO / "ci" / "install-shim.sh"), str(env_dir), str(shim_wheel)], check=True)
            built[kind] = env_dir
        return built[kind]

    return get


def run_py(env_dir: Path, work: Path, code: str, env: dict | None = None, timeout: float = 900):
    """``python -c code`` in the layout venv, from a folder of ours (not the checkout)."""
    (work / "layout_child.py").write_text(CHILD)
    run_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    run_env.update(RELEASE_ENV, PYTHONPATH=str(work), **(env or {}))
    proc = subprocess.run([str(env_dir / "bin" / "python"), "-c", code], cwd=work, env=run_env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def site_packages(env_dir: Path) -> Path:
    return next((env_dir / "lib").glob("python3*/site-packages"))


def status(env_dir: Path, work: Path) -> str:
    proc = subprocess.run([str(env_dir / "bin" / "sglang-spec-patches"), "status"], cwd=work,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def log_of(log_dir: Path, pid: int) -> dict:
    lines = (log_dir / f"process-{pid}.jsonl").read_text().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


SPAWN_PROBE = textwrap.dedent(
    """
    import json, sys
    from layout_child import run_child
    got = run_child()
    got["parent_imported_sglang"] = any(n.startswith("sglang.") for n in sys.modules)
    print(json.dumps(got))
    """
)


def check_spawned_child(env_dir: Path, work: Path, sglang_dir: Path):
    log_dir = work / "log"
    on = run_py(env_dir, work, SPAWN_PROBE, env={"SGLANG_SPEC_PATCHES_LOG_DIR": str(log_dir)})
    assert Path(on["file"]).resolve() == (sglang_dir / "speculative/eagle_draft_cuda_graph_runner.py").resolve()
    assert on["patched"] and not on["parent_imported_sglang"]
    record = log_of(log_dir, on["pid"])
    assert {f["fix"]: f["state"] for f in record["fixes"]}[F1] == "applies"
    assert record["modules"][MODULE]["how"] == "import-hook" and F1 in record["modules"][MODULE]["fixes"]
    off = run_py(env_dir, work, SPAWN_PROBE, env={"SGLANG_SPEC_PATCHES": "off"})
    assert not off["patched"]  # the control: SGLang's own code when the shim is off


def test_pip_install(layout, tmp_path):
    env_dir = layout("pip")
    site = site_packages(env_dir)
    check_spawned_child(env_dir, tmp_path, site / "sglang" / "srt")
    out = status(env_dir, tmp_path)
    assert f"SGLang {RELEASE} at {site}\n" in out
    assert [".pth", str(site / "sglang_spec_patches.pth")] in [line.split() for line in out.splitlines()]
    assert any(line.split()[:2] == [F1, "applies"] for line in out.splitlines())


IMPORT_PROBE = textwrap.dedent(
    f"""
    import json, os
    import {MODULE}
    print(json.dumps({{"pid": os.getpid()}}))
    """
)


def test_pip_install_caches_follow_a_reinstall_of_the_shim(layout, shim_wheel, tmp_path):
    """Installed from a wheel, the plan cache is keyed on the wheel's RECORD: a reinstall
    (pip rewrites RECORD) makes the next process decide again, and the one after reuse it."""
    env_dir = layout("pip")

    def plan_and_bytecode() -> tuple[str, str]:
        log_dir = tmp_path / "log"
        env = {"SGLANG_SPEC_PATCHES_LOG_DIR": str(log_dir), "PYTHONDONTWRITEBYTECODE": ""}  # caches may be written
        pid = run_py(env_dir, tmp_path, IMPORT_PROBE, env=env)["pid"]
        record = log_of(log_dir, pid)
        return record["plan"], record["modules"][MODULE]["bytecode"]

    plan_and_bytecode()  # whatever an earlier run left, the caches are written now
    assert plan_and_bytecode() == ("read from cache", "read from cache")
    subprocess.run(["bash", str(REPO / "ci" / "install-shim.sh"), str(env_dir), str(shim_wheel)], check=True)
    assert plan_and_bytecode()[0] == "decided"
    assert plan_and_bytecode() == ("read from cache", "read from cache")


def test_slime_editable_install(layout, tmp_path):
    env_dir = layout("slime")
    site = site_packages(env_dir)
    checkout = env_dir / "src" / f"sglang-{RELEASE}"
    pths = sorted(p.name for p in site.glob("*.pth"))
    editable = [n for n in pths if n.startswith("__editable__")]
    assert editable and pths.index(editable[-1]) < pths.index("sglang_spec_patches.pth")  # site.py runs them sorted
    check_spawned_child(env_dir, tmp_path, checkout / "sglang" / "srt")
    out = status(env_dir, tmp_path)
    assert f"SGLang {RELEASE} at {checkout}\n" in out  # the editable checkout, not site-packages
    assert [".pth", str(site / "sglang_spec_patches.pth")] in [line.split() for line in out.splitlines()]
    assert any(line.split()[:2] == [F1, "applies"] for line in out.splitlines())


RAY_DRIVER = textwrap.dedent(
    """
    import json, os, sys
    import ray

    log_root, temp_dir = sys.argv[1], sys.argv[2]
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024 * 1024,
             _temp_dir=temp_dir, runtime_env={"env_vars": {"PYTHONPATH": os.environ["PYTHONPATH"]}})


    @ray.remote(num_cpus=0)
    class EngineActor:
        # Like slime's engine actor: imports SGLang, starts the engine in a spawn child.
        def run(self):
            import inspect
            import sglang.srt.configs.model_config as config  # patched by draft-context-length
            from layout_child import run_child
            return {"actor_pid": os.getpid(), "child": run_child(),
                    "actor_env": {k: os.environ.get(k) for k in ("SGLANG_SPEC_PATCHES", "SGLANG_SPEC_PATCHES_DISABLE")},
                    "actor_patched": "sglang-spec-patches(draft-context-length)" in inspect.getsource(config)}


    variants = {
        "on": {},
        "disabled": {"SGLANG_SPEC_PATCHES_DISABLE": "draft-padding-positions"},
        "off": {"SGLANG_SPEC_PATCHES": "off"},
    }
    results = {}
    try:
        for name, env in variants.items():
            env = {**env, "SGLANG_SPEC_PATCHES_LOG_DIR": os.path.join(log_root, name)}
            actor = EngineActor.options(runtime_env={"env_vars": env}).remote()
            results[name] = ray.get(actor.run.remote(), timeout=900)
            ray.kill(actor)
    finally:
        ray.shutdown()
    print(json.dumps(results))
    """
)


def test_ray_actor_and_its_spawned_child(layout, tmp_path):
    env_dir = layout("slime")
    temp_dir = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # Ray's socket paths must stay short
    try:
        code = f"import sys; sys.argv = ['driver', {str(tmp_path / 'log')!r}, {str(temp_dir)!r}]\n" + RAY_DRIVER
        out = run_py(env_dir, tmp_path, code, env={"RAY_USAGE_STATS_ENABLED": "0"})
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)

    on, disabled, off = out["on"], out["disabled"], out["off"]
    # Shim on: the actor and its child each applied what they imported, and logged it.
    assert on["actor_patched"] and on["child"]["patched"]
    actor_log = log_of(tmp_path / "log" / "on", on["actor_pid"])
    child_log = log_of(tmp_path / "log" / "on", on["child"]["pid"])
    assert actor_log["modules"]["sglang.srt.configs.model_config"]["fixes"] == ["draft-context-length"]
    assert child_log["modules"][MODULE]["how"] == "import-hook" and F1 in child_log["modules"][MODULE]["fixes"]
    # SGLANG_SPEC_PATCHES_DISABLE from runtime_env reaches the actor and its child.
    assert disabled["actor_env"]["SGLANG_SPEC_PATCHES_DISABLE"] == F1
    assert disabled["actor_patched"] and not disabled["child"]["patched"]
    for pid in (disabled["actor_pid"], disabled["child"]["pid"]):
        states = {f["fix"]: f["state"] for f in log_of(tmp_path / "log" / "disabled", pid)["fixes"]}
        assert states[F1] == "disabled" and states["draft-context-length"] == "applies"
    child_fixes = log_of(tmp_path / "log" / "disabled", disabled["child"]["pid"])["modules"][MODULE]["fixes"]
    assert F1 not in child_fixes and child_fixes  # the runner's other fixes still apply
    # The control: switched off through runtime_env, both run SGLang's own code.
    assert off["actor_env"]["SGLANG_SPEC_PATCHES"] == "off"
    assert not off["actor_patched"] and not off["child"]["patched"]
    assert not (tmp_path / "log" / "off").exists()  # nothing armed, nothing logged
