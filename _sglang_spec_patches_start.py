"""Start-up of sglang-spec-patches: the wheel's ``.pth`` imports this module in every
Python process (and PEP 829's ``.start`` calls its ``arm``).

It only puts itself on ``sys.meta_path`` as a placeholder finder (a module will do:
``find_spec`` is all the import system asks of a finder). On the first ``sglang.srt.``
import it loads the real hook from the ``sglang_spec_patches`` package, which takes its
place. A top-level module rather than the package: finding a package's ``__init__``
costs every Python process more, and this must stay near zero (``make bench``).
"""

# Runs at every interpreter start: only modules Python has already loaded.
import os
import sys

_OFF = ("off", "0", "false", "no")  # the values runtime.Settings reads as "off"


def find_spec(fullname, path=None, target=None):
    if not fullname.startswith("sglang.srt."):
        return None
    from sglang_spec_patches._startup import activate

    finder = activate()  # the hook replaces this placeholder where it stands
    if finder is None:  # off, or failed (reported): stop asking
        disarm()
        return None
    return finder.find_spec(fullname, path, target)


def is_placeholder(finder) -> bool:
    return finder is sys.modules.get(__name__)


def disarm() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not is_placeholder(f)]


def arm() -> None:
    """Arm the hook for this process (idempotent)."""
    if os.environ.get("SGLANG_SPEC_PATCHES", "").strip().lower() in _OFF:
        return
    if "sglang" in sys.modules and any(name.startswith("sglang.srt.") for name in sys.modules):
        from sglang_spec_patches._startup import activate

        activate()  # SGLang came first: fix what is loaded now
    elif not any(is_placeholder(f) or type(f).__module__ == "sglang_spec_patches.hook" for f in sys.meta_path):
        sys.meta_path.insert(0, sys.modules[__name__])


arm()
