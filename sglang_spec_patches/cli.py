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


class CliError(Exception):
    """Refused before anything was looked at (exit 2); the message is the whole story."""


def installed_sglang_root() -> Path:
    spec = importlib.util.find_spec("sglang")  # locates; does not import sglang
    if spec is None or not spec.submodule_search_locations:
        raise CliError("no installed 'sglang' package found (use --sglang-root)")
    return Path(list(spec.submodule_search_locations)[0]).parent


def activation_report(tree: engine.SourceTree) -> dict:
    """How the hook reaches SGLang's processes for this tree."""
    import site

    dirs = [Path(p) for p in site.getsitepackages() + [site.getusersitepackages()]]
    # os.path.isfile: a site directory we may not look into (another user's home) has none
    pth = [str(d / "sglang_spec_patches.pth") for d in dirs if os.path.isfile(d / "sglang_spec_patches.pth")]
    plugins = tree.text_or_empty("sglang/srt/plugins/__init__.py")
    return {
        "pth": pth,
        "sglang_plugin_entry_point": "sglang.srt.plugins" in plugins,
        "mode": runtime.Settings.from_env().mode,
    }


def _root(args) -> Path:
    return Path(args.sglang_root) if args.sglang_root else installed_sglang_root()


def _fixes(args, also_known: set[str] = frozenset()) -> tuple[engine.Fix, ...]:
    """The catalog, cut to ``--only``; ids in ``also_known`` pass the check too."""
    fixes = engine.load_fixes()
    only = set(getattr(args, "only", None) or [])
    unknown = only - {f.id for f in fixes} - also_known
    if unknown:
        raise CliError(f"unknown fix id(s): {', '.join(sorted(unknown))}")
    return tuple(f for f in fixes if f.id in only) if only else fixes


def _plan(args) -> engine.Plan:
    tree = engine.SourceTree(_root(args))
    disabled = runtime.Settings.from_env().disabled
    return engine.plan(tree, _fixes(args), disabled=disabled, version=getattr(args, "version", None))


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
    carried = [d.fix for d in plan.decisions if d.recognised]
    if carried:
        print(f"  carried by the tree (an equivalent fix recognised, left alone): {', '.join(carried)}")
    moved = [d.fix for d in plan.decisions if d.reanchored]
    if moved:
        print(f"  re-anchored past edits in the tree: {', '.join(moved)}")


def _exit_code(plan: engine.Plan) -> int:
    return EXIT_DECLINED if any(d.state == engine.DECLINED for d in plan.decisions) else EXIT_OK


def cmd_plan(args) -> int:
    plan = _plan(args)
    _print_plan(plan, args.json)
    return _exit_code(plan)


def _settle_crashed_bake(root: Path) -> None:
    """Any command that looks at a tree first settles a bake that was killed half-way."""
    from . import bake

    done = bake.recover(root)
    if done:
        print(f"sglang-spec-patches: {done}", file=sys.stderr)


def _activation_rows(activation: dict, baked: dict) -> list[tuple[str, str]]:
    """The activation and bake part of ``status`` as (what, state) rows."""
    settings = runtime.Settings.from_env()
    mode = {"off": "off: nothing is patched at run time (SGLANG_SPEC_PATCHES=off)",
            "on": "on", "strict": "strict: a declined fix or a missed module raises"}[activation["mode"]]
    rows = [("mode", mode)]
    if settings.disabled:
        rows.append(("disabled", ", ".join(sorted(settings.disabled)) + " (SGLANG_SPEC_PATCHES_DISABLE)"))
    rows += [(".pth", path) for path in activation["pth"]] or [
        (".pth", "none found in site-packages: processes are patched only where the plugin "
                 "or `import sglang_spec_patches` reaches them")]
    rows.append(("SGLang plugin", "yes: SGLang loads sglang.srt.plugins entry points" if
                 activation["sglang_plugin_entry_point"] else "no: this SGLang has no plugin loader"))
    if baked.get("error"):
        rows.append(("bake", baked["error"]))
    elif baked["files"]:
        rows.append(("bake", f"{len(baked['fixes'])} fix(es) in {len(baked['files'])} file(s), "
                             f"manifest {baked['manifest']}"))
    else:
        rows.append(("bake", "nothing baked"))
    return rows


def cmd_status(args) -> int:
    from . import bake

    root = _root(args)
    _settle_crashed_bake(root)
    plan = _plan(args)
    baked = bake.summary(root)
    activation = activation_report(engine.SourceTree(plan.root))
    if args.json:
        _print_plan(plan, True, {"activation": activation, "bake": baked})
        return _exit_code(plan)
    _print_plan(plan, False)
    rows = _activation_rows(activation, baked)
    width = max(len(what) for what, _ in rows)
    print()
    for what, state in rows:
        print(f"  {what:<{width}}  {state}")
    return _exit_code(plan)


def _report(out, as_json: bool, lines: list[str]) -> None:
    """Print a bake outcome: the plan table (if any), what was done, notes, problems."""
    if out.recovered:
        print(f"sglang-spec-patches: {out.recovered}", file=sys.stderr)
    if as_json:
        doc = out.as_dict()
        if out.plan is not None:
            doc.update(sglang_version=out.plan.version, fixes=[d.as_dict() for d in out.plan.decisions])
        print(json.dumps(doc, indent=2))
        return
    if out.plan is not None:
        _print_plan(out.plan, False)
    else:
        print(f"SGLang tree at {out.root}")
    for line in lines + [f"note: {n}" for n in out.notes]:
        print(line)


def _files(verb: str, files: list[str]) -> str:
    return f"{verb} {len(files)} file(s)" + "".join(f"\n  {p}" for p in files)


def cmd_apply(args) -> int:
    from . import bake

    out = bake.apply(_root(args), _fixes(args), disabled=runtime.Settings.from_env().disabled,
                     version=args.version, dry_run=args.dry_run)
    declined = [d for d in out.plan.decisions if d.state == engine.DECLINED]
    lines = [_files("would write" if args.dry_run else "wrote", out.written)]
    if out.written and not args.dry_run:
        lines.append(f"manifest: {out.manifest_path}")
    if declined:
        lines.append(f"not written: {len(declined)} declined fix(es): {', '.join(d.fix for d in declined)}")
    _report(out, args.json, lines)
    return _exit_code(out.plan)


def cmd_verify(args) -> int:
    from . import bake

    root = _root(args)
    fixes = _fixes(args, also_known=bake.baked_fixes(bake.load_manifest(root)))
    out = bake.verify(root, fixes, only=args.only or (), disabled=runtime.Settings.from_env().disabled,
                      version=args.version)
    if out.problems:
        lines = ["verify FAILED:"] + [f"  - {p}" for p in out.problems]
    else:
        manifest = bake.load_manifest(root)
        lines = [f"verified: {len(bake.baked_fixes(manifest))} fix(es) baked in {len(manifest['files'])} file(s), "
                 "every file as baked, nothing left to apply"]
    _report(out, args.json, lines)
    if out.problems and not args.json:
        print(f"sglang-spec-patches: verify failed ({len(out.problems)} problem(s))", file=sys.stderr)
    return EXIT_DECLINED if out.problems else EXIT_OK


def cmd_revert(args) -> int:
    from . import bake

    root = _root(args)
    _fixes(args, also_known=bake.baked_fixes(bake.load_manifest(root)) if bake.state_dir(root).is_dir() else set())
    out = bake.revert(root, only=args.only or (), dry_run=args.dry_run)
    lines = [_files("would restore" if args.dry_run else "restored", out.written)
             + ("" if args.dry_run or not out.written else "\n(original bytes, hash-checked)")]
    _report(out, args.json, lines)
    return EXIT_OK


def cmd_doctor(args) -> int:
    from . import doctor

    settings = runtime.Settings.from_env()
    tree = engine.SourceTree(_root(args))
    plan = engine.plan(tree, engine.load_fixes(), disabled=settings.disabled, version=args.version)
    if args.server_url:
        flags = doctor.server_flags(args.server_url)
    else:
        flags = doctor.parse_flags(args.flags)
    activation = doctor.activation_state(tree, activation_report(tree)["pth"])
    findings = doctor.diagnose(flags, plan, settings, activation)
    if args.json:
        print(json.dumps({"sglang_version": plan.version, "findings": [f.as_dict() for f in findings]}, indent=2))
    else:
        print(f"SGLang {plan.version or '(version unknown)'} at {plan.root}; shim mode {settings.mode}")
        print(doctor.format_findings(findings))
    return EXIT_DECLINED if any(f.risk for f in findings) else EXIT_OK


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
    for name, text in (("apply", "write the applicable fixes into an SGLang tree (atomic, idempotent)"),
                       ("verify", "check a baked tree: files as baked, every fix in, no stale bytecode"),
                       ("revert", "restore the original bytes of the baked files (hash-checked)")):
        p = sub.add_parser(name, help=text)
        common(p)
        if name != "verify":
            p.add_argument("--dry-run", action="store_true", help="say what would change; write nothing")

    p = sub.add_parser("doctor", help="what crash risk remains for these SGLang flags on this install",
                       description="Reads SGLang flags (--attention-backend ...) or slime's (--sglang-attention-backend"
                                   " ...) after '--', or a running server's args; exit 1 if a risk is unmitigated.")
    p.add_argument("--sglang-root", metavar="DIR", help="directory that contains the 'sglang' package")
    p.add_argument("--as-version", dest="version", metavar="VERSION", help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--server-url", metavar="URL", help="read the flags of a running SGLang server instead")
    p.add_argument("flags", nargs=argparse.REMAINDER, help="the server / slime flags, after --")

    args = parser.parse_args(argv)
    if args.command == "doctor" and args.flags[:1] == ["--"]:
        args.flags = args.flags[1:]
    handlers = {"status": cmd_status, "plan": cmd_plan, "apply": cmd_apply, "verify": cmd_verify,
                "revert": cmd_revert, "doctor": cmd_doctor}
    from .bake import BakeError

    try:
        return handlers[args.command](args)
    except (CliError, BakeError, engine.FixDefinitionError, OSError) as exc:
        print(f"sglang-spec-patches: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # a bug of ours: still one line, never a traceback
        import traceback

        where = traceback.extract_tb(exc.__traceback__)[-1]
        print(f"sglang-spec-patches: internal error: {type(exc).__name__}: {exc} "
              f"(at {Path(where.filename).name}:{where.lineno}; please report it)", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
