"""Stand-in for ``torch._C._cpu._is_amx_tile_supported``, absent from torch 2.13.

SGLang releases up to 0.5.1.post3 call it when ``sglang.srt.utils`` is imported,
so without it none of their modules import in the CPU test environment. Imported
at interpreter start-up (``.pth`` written by ``ci/make-cpu-env.sh``); once torch is
imported it adds the function, returning False (no AMX), only if it is missing.
"""

from _standin_after_import import after_import


def _add_missing(torch):
    cpu = torch._C._cpu
    if not hasattr(cpu, "_is_amx_tile_supported"):
        cpu._is_amx_tile_supported = lambda: False


after_import("torch", _add_missing)
