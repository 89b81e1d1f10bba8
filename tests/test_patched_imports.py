"""The patched modules really import on CPU, for a representative release of each code
family: every module the plan changes is imported through the hook (real torch, real
triton, stand-ins for GPU-only packages) and arrives with the fixes planned for it."""

import json
import textwrap

import pytest

from sglang_releases import run_in_release, unpack
from sglang_spec_patches import engine

pytestmark = pytest.mark.slow

# One per family boundary of the fixes (see each fix.json), newest affected last: 0.5.13.post1
# is draft-seq-lens-sum's 0.5.13 family, 0.5.15.post1 draft-mla-kv-indptr-capture-bs and
# draft-triton-kv-indptr-capture-bs, 0.5.23 draft-triton-kv-indptr-capture-bs only.
RELEASES = ["0.4.10", "0.5.1", "0.5.3rc2", "0.5.6.post2", "0.5.10.post1", "0.5.12.post1", "0.5.13.post1",
            "0.5.15.post1", "0.5.23"]


@pytest.mark.parametrize("release", RELEASES)
def test_every_patched_module_imports_through_the_hook(cpu_env, release):
    plan = engine.plan(engine.SourceTree(unpack(release)))
    modules = {engine.module_name(rel): plan.fixes_for(rel) for rel in plan.texts}
    assert modules, f"{release} is affected: the plan must change something"
    code = textwrap.dedent(
        f"""
        import importlib, json, sys
        for name in {sorted(modules)!r}:
            importlib.import_module(name)
        print(json.dumps(sys.modules["sglang_spec_patches"].report()["modules"]))
        """
    )
    proc = run_in_release(release, code, env={"SGLANG_SPEC_PATCHES": "strict"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, fixes in modules.items():
        assert (seen[name]["how"], seen[name]["fixes"]) == ("import-hook", fixes), name
