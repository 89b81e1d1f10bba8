"""``sglang-spec-patches``: report the fixes for an SGLang tree, and bake them on disk."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path

from . import __version__, engine, runtime

EXIT_OK, EXIT_DECLINED, EXIT_ERROR = 0, 1, 2


def installed_sglang_root() -> Path:
    spec = importlib.util.find_spec("sglang")  # locates; does not import sglang
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("sglang-spec-patches: no installed 'sglang' package found (use --sglang-root)")
    return Path(list(spec.submodule_search_locations)[0]).parent


def activation_report(tree: engine.SourceTree) -> dict:
    """How the hook reaches SGLang's processes for this tree."""
    import site

    dirs = [Path(p) for p in site.getsitepackages() + [site.getusersitepackages()]]
    pth = [str(d / "sglang_spec_patches.pth") for d in dirs if (d / "sglang_spec_patches.pth").is_file()]
    plugins = tree.read("sglang/srt/plugins/__init__.py") or ""
    return {
        "pth": pth,
        "sglang_plugin_entry_point": "sglang.srt.plugins" in plugins,
        "mode": runtime.Settings.from_env().mode,
    }


def _plan(args) -> engine.Plan:
    root = Path(args.sglang_root) if args.sglang_root else installed_sglang_root()
    tree = engine.SourceTree(root)
    fixes = engine.load_fixes()
    only = set(getattr(args, "only", None) or [])
    unknown = only - {f.id for f in fixes}
    if unknown:
        raise SystemExit(f"sglang-spec-patches: unknown fix id(s): {', '.join(sorted(unknown))}")
    if only:
        fixes = tuple(f for f in fixes if f.id in only)
    disabled = runtime.Settings.from_env().disabled
    return engine.plan(tree, fixes, disabled=disabled, version=getattr(args, "version", None))


def _print_plan(plan: engine.Plan, as_json: bool, extra: dict | None = None) -> None:
    if as_json:
        print(json.dumps([d.as_dict() for d in plan.decisions] if extra is None
                         else {"sglang_root": str(plan.root), "sglang_version": plan.version,
                               "fixes": [d.as_dict() for d in plan.decisions], **extra}, indent=2))
        return
    print(f"SGLang {plan.version or '(version unknown)'} at {plan.root}")
    for key, value in (extra or {}).items():
        print(f"  {key}: {value}")
    width = max((len(d.fix) for d in plan.decisions), default=0)
    for d in plan.decisions:
        print(f"  {d.fix:<{width}}  {d.state:<14}  {d.reason}")


def _exit_code(plan: engine.Plan) -> int:
    return EXIT_DECLINED if any(d.state == engine.DECLINED for d in plan.decisions) else EXIT_OK


def cmd_plan(args) -> int:
    plan = _plan(args)
    _print_plan(plan, args.json)
    return _exit_code(plan)


def cmd_status(args) -> int:
    plan = _plan(args)
    _print_plan(plan, args.json, {"activation": activation_report(engine.SourceTree(plan.root))})
    return _exit_code(plan)


def cmd_apply(args) -> int:
    from . import bake

    plan = _plan(args)
    written = bake.write_plan(plan, dry_run=args.dry_run)
    if args.json:
        print(json.dumps({"fixes": [d.as_dict() for d in plan.decisions], "written": written}, indent=2))
    else:
        _print_plan(plan, False)
        verb = "would write" if args.dry_run else "wrote"
        print(f"{verb} {len(written)} file(s)" + "".join(f"\n  {p}" for p in written))
    return _exit_code(plan)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sglang-spec-patches", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p, root_required=False):
        p.add_argument("--sglang-root", required=root_required, metavar="DIR",
                       help="directory that contains the 'sglang' package (default: the installed one)")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.add_argument("--only", action="append", metavar="FIX_ID", help="limit to this fix (repeatable)")
        p.add_argument("--as-version", dest="version", metavar="VERSION",
                       help="pretend the tree is this release (only changes which diff is tried first)")

    common(sub.add_parser("status", help="the installed SGLang: version, each fix and its state, activation"))
    common(sub.add_parser("plan", help="each fix's state for an SGLang source tree, without importing it"))
    p = sub.add_parser("apply", help="write the applicable fixes into an SGLang tree (idempotent)")
    common(p)
    p.add_argument("--dry-run", action="store_true", help="say what would change; write nothing")

    args = parser.parse_args(argv)
    handlers = {"status": cmd_status, "plan": cmd_plan, "apply": cmd_apply}
    try:
        return handlers[args.command](args)
    except (FileNotFoundError, engine.FixDefinitionError, PermissionError, OSError) as exc:
        print(f"sglang-spec-patches: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
