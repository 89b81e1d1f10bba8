"""Child process of tests/test_damaged_trees.py: imports one SGLang module after another
from a tree whose files the parent damages in turn, with the shim off and on.

Run in the CPU SGLang environment with the tree on PYTHONPATH and
SGLANG_SPEC_PATCHES=off (so the start-up hook stays out); "on" is the import hook itself,
a fresh finder (a fresh plan of the tree as it is now) in front of the normal finders.
Heavy dependencies (torch, triton, the rest of SGLang) are imported once; each request
re-runs only the damaged module, and puts the pristine one back after. Protocol, one
JSON object a line: the parent sends {"module": name}; the child answers
{"off": error or None, "on": error or None, "problems": [the hook's warnings]}. Python's
own bytecode is neither read nor written (PYTHONDONTWRITEBYTECODE), so each import
compiles the file as it is now.
"""

import importlib
import json
import sys

from sglang_spec_patches import hook, runtime


def import_fresh(name: str, finder=None) -> tuple[str | None, object]:
    sys.modules.pop(name, None)
    importlib.invalidate_caches()
    if finder is not None:
        sys.meta_path.insert(0, finder)
    try:
        return None, importlib.import_module(name)
    except BaseException as exc:  # whatever the module raises, the answer is "it failed"
        return f"{type(exc).__name__}: {exc}".splitlines()[0][:300], None
    finally:
        if finder is not None:
            sys.meta_path.remove(finder)


def put_back(name: str, module) -> None:
    """The pristine module again, for the modules imported in later cases."""
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, module)


def main() -> None:
    pristine = {}
    for name in sys.argv[1:]:  # the pristine tree: every dependency loaded once
        error, pristine[name] = import_fresh(name)
        print(json.dumps({"warmed": name, "error": error}), flush=True)
    for line in sys.stdin:
        name = json.loads(line)["module"]
        off, _ = import_fresh(name)
        runtime.RECORD["problems"] = []
        finder = hook.SpecPatchFinder(runtime.Settings("on", frozenset(), None))
        on, _ = import_fresh(name, finder)
        put_back(name, pristine[name])
        print(json.dumps({"off": off, "on": on, "problems": runtime.RECORD["problems"]}), flush=True)


if __name__ == "__main__":
    main()
