"""Upstream issue #26340: with ``--speculative-eagle-topk`` > 1, FlashInfer and CUDA
graphs, long-context batches corrupt memory in the EAGLE draft stage.

Fix: draft-kv-indices-topk (upstream PR #27338). ``FlashInferMultiStepDraftBackend.
init_cuda_graph_state`` sizes the draft ``kv_indices`` rows ``max_bs * max_context_len``,
but ``generate_draft_decode_kv_indices`` packs ``topk`` copies of each request's prefix
into a row: a full batch of long requests overflows a row into the next, and the last
row past the end of the buffer.

This is the suite's test for the releases the four older issues no longer affect (it
runs up to 0.5.12.post1, so also on the 0.5.9, 0.5.10.post1 and 0.5.12.post1 images).
Kernel level (``draft_kv_indices.py``): the release's own sizing and planning code and
its Triton kernel on the GPU; a guard band after the buffer counts what is written past
it. topk 4, 3 steps, max batch 8, context 4096, eight requests of 1500 tokens: the last
row needs 48096 entries.
"""

import pytest

import gpu_suite as suite
import kernel_checks


@pytest.mark.gpu
@pytest.mark.parametrize("patched", [False, True], ids=["unpatched", "patched"])
def test_kernel_draft_kv_indices_rows_hold_topk_prefixes(patched):
    suite.check_kernel(kernel_checks.ROWS_26340, patched)
