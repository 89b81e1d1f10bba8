"""Run a callback right after a module is first imported (helper of the start-up stand-ins).

Used by the stand-ins that ``ci/make-cpu-env.sh`` has every interpreter of the CPU
test environment import at start-up (from a ``.pth`` file): they fill in a name
that only exists on GPU machines, without importing the heavy module themselves.
"""

import importlib.abc
import sys

_callbacks = {}


class _AfterImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name not in _callbacks:
            return None
        # Let the finders after this one (plain paths, editable installs, the shim's
        # hook) locate it. Only those after it: a finder before it may delegate back
        # here (the GPU suite's probe does), and asking it again would never end.
        finders = sys.meta_path
        rest = finders[finders.index(self) + 1:] if self in finders else []
        for finder in rest:
            if not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            for callback in _callbacks.get(name, ()):
                callback(module)

        spec.loader.exec_module = exec_module
        return spec


_finder = _AfterImport()


def after_import(name, callback):
    """Call ``callback(module)`` once ``name`` is imported (now if it already is)."""
    if name in sys.modules:
        callback(sys.modules[name])
        return
    _callbacks.setdefault(name, []).append(callback)
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
