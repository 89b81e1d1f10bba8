"""The main job on a built-in default: what the shim does to a known-affected SGLang.

1. Fetches the release from PyPI (cached) and prints each fix's plan for it.
2. Shows the patched lines of the draft CUDA-graph runner (fix draft-padding-positions).
3. Reproduces #9888 on CPU with SGLang's own code (patches/draft-padding-positions/
   reproduce.py): unpatched vs patched, how far FlashInfer's kv_indptr claims the draft
   kv_indices row is filled against what the Triton kernel wrote.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from sglang_releases import run_harness, unpack  # noqa: E402
from sglang_spec_patches import engine  # noqa: E402

HARNESS = REPO / "patches" / "draft-padding-positions" / "reproduce.py"


def show_plan(root: Path) -> engine.Plan:
    plan = engine.plan(engine.SourceTree(root))
    print(f"== plan for SGLang {plan.version}")
    width = max(len(d.fix) for d in plan.decisions)
    for d in plan.decisions:
        print(f"  {d.fix:<{width}}  {d.state:<15} {d.reason}")
    return plan


def show_diff(root: Path, plan: engine.Plan, rel: str) -> None:
    if rel not in plan.texts:
        return
    old = (root / rel).read_text(encoding="utf-8").splitlines(keepends=True)
    new = plan.texts[rel].splitlines(keepends=True)
    print(f"\n== what the hook compiles instead of {rel}")
    sys.stdout.writelines(difflib.unified_diff(old, new, "installed", "patched", n=2))


def reproduce(release: str, replays: int) -> None:
    print(f"\n== #9888 on CPU: {replays} padded draft replays (batch of 5 padded to 8)")
    runs = {mode: run_harness(release, HARNESS, mode, args=["--replays", str(replays)]) for mode in ("off", "on")}
    print(f"  {'replay':>6}  {'unpatched claimed/written':>26}  {'patched claimed/written':>24}  row")
    for off, on in zip(runs["off"], runs["on"]):
        if off["replay"] % max(1, replays // 10) == 0 or off["replay"] == replays:
            flag = "  <- past the buffer" if off["claimed"] > off["row"] else ""
            print(f"  {off['replay']:>6}  {off['claimed']:>12} / {off['written']:<11}  "
                  f"{on['claimed']:>10} / {on['written']:<11}  {off['row']}{flag}")
    worst = max(r["claimed"] - r["written"] for r in runs["off"])
    safe = all(r["claimed"] <= r["written"] for r in runs["on"])
    print(f"  unpatched: kv_indptr claims up to {worst} entries the kernel never wrote; "
          f"patched: {'never claims more than written' if safe else 'STILL OVER-CLAIMS'}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--release", default="0.5.2")
    p.add_argument("--replays", type=int, default=40)
    args = p.parse_args()
    root = unpack(args.release)
    plan = show_plan(root)
    show_diff(root, plan, "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py")
    if plan.decision("draft-padding-positions").state == engine.APPLIES:
        reproduce(args.release, args.replays)
    else:
        print("\n(draft-padding-positions does not apply to this release: nothing to reproduce)")


if __name__ == "__main__":
    main()
