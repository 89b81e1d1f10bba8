"""Stand-in for SGLang's compiled-kernel cache when Triton runs on its CPU interpreter.

In 0.5.3rc2 .. 0.5.4.post1, ``sglang.srt.utils.common.cached_triton_kernel`` always
wraps the kernel in ``CachedKernel``, which asserts it is a compiled (GPU)
``triton.runtime.jit.JITFunction``. Under ``TRITON_INTERPRET=1`` ``triton.jit`` gives
an interpreted function instead, so the LoRA Triton ops fail at import, and with
them the model runner and (in 0.5.3.post2/.post3) ``eagle_info``. Imported at
interpreter start-up of the CPU test environment (``.pth`` written by
``ci/make-cpu-env.sh``); once that module is imported it makes the decorator return
interpreted kernels unwrapped, which is what later releases do by default. Compiled
kernels still go through the release's own decorator.
"""

from _standin_after_import import after_import


def _wrap(common):
    original = getattr(common, "cached_triton_kernel", None)
    if original is None:
        return
    import triton

    def cached_triton_kernel(key_fn=None):
        decorate = original(key_fn)

        def decorator(fn):
            if not isinstance(fn, triton.runtime.jit.JITFunction):
                return fn  # interpreted: Triton's own launch path, no cache
            return decorate(fn)

        return decorator

    common.cached_triton_kernel = cached_triton_kernel


after_import("sglang.srt.utils.common", _wrap)
