"""Stand-in for ``fast_topk`` in SGLang modules that define it only when CUDA is present.

Up to 0.5.4.post1, ``sglang.srt.speculative.eagle_utils`` (later ``spec_utils``)
binds ``fast_topk`` from ``sgl_kernel`` only under ``is_cuda()``/``is_hip()``, while
the EAGLE worker and draft-extend CUDA-graph runner import it by name, so those
modules cannot be imported on a CPU machine. Imported at interpreter start-up of the
CPU test environment (``.pth`` written by ``ci/make-cpu-env.sh``); after either module
is imported it binds ``fast_topk`` to the ``sgl_kernel`` stand-in's stub (which raises
if called), only if the release did not define it. Newer releases are left alone.
"""

from _standin_after_import import after_import


def _add_missing(module):
    if not hasattr(module, "fast_topk"):
        from sgl_kernel import fast_topk

        module.fast_topk = fast_topk


for _name in ("sglang.srt.speculative.eagle_utils", "sglang.srt.speculative.spec_utils"):
    after_import(_name, _add_missing)
