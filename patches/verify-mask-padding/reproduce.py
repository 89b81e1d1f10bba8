"""Reproduce #9481 / #6309 on CPU with SGLang's own code: under CUDA-graph padding the
verify step hands FlashInfer a tree mask shorter than the offsets FlashInfer reads.

Runs inside the CPU SGLang environment, with one SGLang release on PYTHONPATH.

Real: ``EagleVerifyInput`` (its dataclass ``__init__``) and its
``generate_attn_arg_prefill``, which runs the Triton kernel
``create_flashinfer_kv_indices_triton`` (under TRITON_INTERPRET=1) on the real
``req_to_token`` of a ``ReqToTokenPool``; the draft tree is built by SGLang's
``select_top_k_tokens`` and ``build_tree_kernel_efficient`` (its preprocessing and the
mask allocation, ``seq_lens_sum*D + D*D*bs`` booleans), as ``EAGLEWorker.draft`` does;
the seq_len fill value comes from ``FlashInferAttnBackend.get_cuda_graph_seq_len_fill_value``.
``select_top_k_tokens`` runs eagerly (its ``torch.compile`` wrapper skipped) and
``fast_topk`` is SGLang's own torch version where the release binds sgl_kernel's.

Stand-ins, named as such below:
- ``standin_build_tree_kernel``: sgl_kernel's CUDA ``build_tree_kernel_efficient``
  (no Triton or CPU version exists in any release); it writes the tree bits and
  positions into SGLang's mask with the layout that kernel documents, D rows of
  ``seq_len + D`` bits per request.
- ``StandInDraftModel``: the draft model's next-token logits (random), from which the
  real ``select_top_k_tokens`` picks the tree.
- ``standin_flashinfer_mask_indptr``: FlashInfer's prefill ``plan``, reduced to the
  offsets it computes into the custom mask (request i owns ``qo_len_i * kv_len_i``
  bits; page size 1), which ``segment_packbits`` then reads.
- ``pad_like_replay_prepare``: what ``CudaGraphRunner.replay_prepare`` does to the
  batch before the attention backend is planned (pad to the next captured size; the
  padded rows get pool index 0 and the backend's seq_len fill value).
- CUDA placement (``cuda_on_cpu``).

Scenario: topk 4, 3 steps, 8 draft tokens, captured sizes [1, 2, 4, 8]; a verify batch
of 5 requests (padded to 8) and the same batch eagerly (not padded). Prints one JSON
line per call.
"""

from __future__ import annotations

import bisect
import json
import sys

import torch
from cuda_on_cpu import CudaOnCpu
from sglang_objects import release_attr

from sglang.srt.layers.attention.flashinfer_backend import FlashInferAttnBackend
from sglang.srt.mem_cache.memory_pool import ReqToTokenPool
from sglang.srt.model_executor.forward_batch_info import CaptureHiddenMode

TOPK, STEPS, D = 4, 3, 8
CAPTURE_BS = [1, 2, 4, 8]
SEQ_LENS = [37, 12, 50, 23, 64]
VOCAB, HIDDEN = 64, 4

EagleVerifyInput = release_attr(
    "EagleVerifyInput", "sglang.srt.speculative.eagle_utils", "sglang.srt.speculative.eagle_info")
build_tree_kernel_efficient = release_attr(
    "build_tree_kernel_efficient", "sglang.srt.speculative.build_eagle_tree", "sglang.srt.speculative.eagle_utils")
select_top_k_tokens = release_attr(
    "select_top_k_tokens", "sglang.srt.speculative.spec_utils", "sglang.srt.speculative.eagle_utils")
# Its torch.compile wrapper is skipped: same code, run eagerly (compiling costs ~10 s on CPU).
select_top_k_tokens = getattr(select_top_k_tokens, "__wrapped__", select_top_k_tokens)
TREE_MODULE = sys.modules[build_tree_kernel_efficient.__module__]
SELECT_MODULE = sys.modules[select_top_k_tokens.__module__]


def standin_build_tree_kernel(parent_list, selected_index, verified_seq_len, tree_mask, positions,
                              retrive_index, retrive_next_token, retrive_next_sibling,
                              topk, depth, draft_token_num, tree_mask_mode=0):
    """Stand-in for sgl_kernel's build_tree_kernel_efficient (CUDA only), FULL_MASK mode.

    Request b owns D rows of (seq_len_b + D) bits, after all earlier requests' rows.
    Row t attends the whole prefix (left True as SGLang allocated it), itself and its
    ancestors in the draft tree. A draft token's parent is found from the selected
    index: its step-parent in ``parent_list``, or the verified token (row 0).
    The retrive_* outputs (used by verify, not by attention) are left as allocated.
    """
    assert tree_mask_mode == 0, "only the FULL_MASK layout is modelled"
    offset = 0
    for b in range(parent_list.shape[0]):
        seq_len = int(verified_seq_len[b])
        sel = [int(x) for x in selected_index[b]]
        row_len = seq_len + draft_token_num

        def parent_row(t):  # row of token t's parent (t >= 1); 0 = the verified token
            parent_tb = sel[t - 1] // topk
            if parent_tb == 0:
                return 0
            return sel.index(int(parent_list[b, parent_tb])) + 1

        for t in range(draft_token_num):
            start = offset + t * row_len + seq_len
            tree_mask[start + 1:start + draft_token_num] = False
            depth_t, node = 0, t
            while node != 0:
                tree_mask[start + node] = True
                node, depth_t = parent_row(node), depth_t + 1
            positions[b * draft_token_num + t] = seq_len + depth_t
        offset += draft_token_num * row_len


class StandInDraftModel:
    """Stand-in for the draft model forward: random next-token logits per tree node."""

    def __init__(self, seed=0):
        self.gen = torch.Generator().manual_seed(seed)

    def topk(self, rows):
        probs = torch.softmax(torch.randn(rows, VOCAB, generator=self.gen), dim=-1)
        return torch.topk(probs, TOPK, dim=-1)


def draft_tree(seq_lens):
    """As EAGLEWorker.draft: the draft steps' top-k trees, then build_tree_kernel_efficient."""
    raw_bs = len(seq_lens)
    model = StandInDraftModel()
    topk_p, topk_index = model.topk(raw_bs)
    hidden, scores = torch.zeros(raw_bs, HIDDEN), None
    score_list, token_list, parents_list = [], [], []
    for i in range(STEPS):
        _, hidden, scores, tree_info = select_top_k_tokens(i, topk_p, topk_index, hidden, scores, TOPK)
        score_list.append(tree_info[0])
        token_list.append(tree_info[1])
        parents_list.append(tree_info[2])
        if i < STEPS - 1:
            topk_p, topk_index = model.topk(raw_bs * TOPK)
    verified_id = torch.randint(0, VOCAB, (raw_bs,), generator=model.gen)
    seq = torch.tensor(seq_lens, dtype=torch.int64)
    organize = getattr(TREE_MODULE, "organize_draft_results", None)
    if organize is not None:  # 0.5.4 on: the preprocessing moved out of build_tree_kernel_efficient
        parent_list, top_scores_index, draft_tokens = organize(score_list, token_list, parents_list, D)
        args = (verified_id, parent_list, top_scores_index, draft_tokens)
    else:
        args = (verified_id, score_list, token_list, parents_list)
    mask, positions, r_index, r_next, r_sibling, tokens = build_tree_kernel_efficient(
        *args, seq, int(seq.sum()), TOPK, STEPS, D)
    return EagleVerifyInput(
        draft_token=tokens, custom_mask=mask, positions=positions, retrive_index=r_index,
        retrive_next_token=r_next, retrive_next_sibling=r_sibling, retrive_cum_len=None,
        spec_steps=STEPS, topk=TOPK, draft_token_num=D, capture_hidden_mode=CaptureHiddenMode.FULL,
        seq_lens_sum=int(seq.sum()), seq_lens_cpu=seq.to(torch.int32),
    )


def pad_like_replay_prepare(req_pool_indices, seq_lens, fill, padded):
    """Stand-in for CudaGraphRunner.replay_prepare's padding: the runner's buffers start
    zeroed, seq_lens is refilled with the backend's fill value when bs != raw_bs, and
    the raw batch is copied into the front; the backend gets seq_lens_sum plus the fill
    of each padded row."""
    raw_bs = len(seq_lens)
    bs = CAPTURE_BS[bisect.bisect_left(CAPTURE_BS, raw_bs)] if padded else raw_bs
    pool_idx = torch.zeros(bs, dtype=torch.int64)
    lens = torch.full((bs,), fill, dtype=torch.int32)
    pool_idx[:raw_bs] = req_pool_indices
    lens[:raw_bs] = seq_lens
    return pool_idx, lens, int(seq_lens.sum()) + (bs - raw_bs) * fill


def standin_flashinfer_mask_indptr(qo_indptr, kv_indptr):
    """Stand-in for FlashInfer's BatchPrefillWithPagedKVCacheWrapper.plan (page size 1,
    last page length 1): request i's custom-mask segment is qo_len_i * kv_len_i bits,
    and segment_packbits reads the mask up to mask_indptr[-1]."""
    seg = (qo_indptr[1:] - qo_indptr[:-1]).long() * (kv_indptr[1:] - kv_indptr[:-1]).long()
    return torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(seg, 0)])


def verify_call(padded):
    pool = ReqToTokenPool(size=16, max_context_len=128, device="cuda", enable_memory_saver=False)
    raw_bs = len(SEQ_LENS)
    req_pool_indices = torch.tensor(pool.alloc(raw_bs), dtype=torch.int64)
    next_slot = 1
    for idx, seq_len in zip(req_pool_indices.tolist(), SEQ_LENS):
        n = seq_len + D  # prefix plus the draft tokens' slots (prepare_for_verify assigns them)
        pool.write((idx, slice(0, n)), torch.arange(next_slot, next_slot + n, dtype=torch.int32))
        next_slot += n
    verify = draft_tree(SEQ_LENS)
    mask_before = verify.custom_mask.clone()
    fill = FlashInferAttnBackend.get_cuda_graph_seq_len_fill_value(object.__new__(FlashInferAttnBackend))
    seq_lens = torch.tensor(SEQ_LENS, dtype=torch.int32)
    pool_idx, lens, lens_sum = pad_like_replay_prepare(req_pool_indices, seq_lens, fill, padded)
    kv_indices, kv_indptr, qo_indptr, mask = verify.generate_attn_arg_prefill(
        pool_idx, lens, lens_sum, pool.req_to_token)
    mask_indptr = standin_flashinfer_mask_indptr(qo_indptr, kv_indptr)
    real_end = int(mask_indptr[raw_bs])
    # kv_indices of the real rows are the slots written into req_to_token
    expected_kv = torch.cat([pool.req_to_token[i, :s + D] for i, s in zip(req_pool_indices.tolist(), SEQ_LENS)])
    return {
        "padded": padded, "raw_bs": raw_bs, "bs": len(pool_idx), "fill": fill, "D": D,
        "mask_built": int(mask_before.numel()),
        "mask_numel": int(mask.numel()),
        "mask_indptr_end": int(mask_indptr[-1]),
        "real_rows_end": real_end,
        "real_bits_equal": bool(torch.equal(mask[:real_end], mask_before[:real_end])),
        "tail_all_true": bool(mask[real_end:].all()),
        "same_tensor": mask is verify.custom_mask and mask.data_ptr() == verify.custom_mask.data_ptr(),
        "unchanged": bool(mask.numel() == mask_before.numel() and torch.equal(mask, mask_before)),
        "real_kv_ok": bool(torch.equal(kv_indices[:int(kv_indptr[raw_bs])], expected_kv)),
        "tree_ok": tree_looks_right(mask_before, SEQ_LENS),
    }


def tree_looks_right(mask, seq_lens):
    """Sanity check of the stand-in kernel's output: per request, every row sees the
    whole prefix and itself, and only earlier draft tokens (its ancestors)."""
    offset = 0
    for seq_len in seq_lens:
        rows = mask[offset:offset + D * (seq_len + D)].view(D, seq_len + D)
        tree = rows[:, seq_len:]
        if not (rows[:, :seq_len].all() and tree.diagonal().all() and torch.equal(tree, tree.tril())):
            return False
        offset += D * (seq_len + D)
    return offset == mask.numel()


def main():
    TREE_MODULE.sgl_build_tree_kernel_efficient = standin_build_tree_kernel
    if getattr(SELECT_MODULE.fast_topk, "__module__", "").startswith("sgl_kernel"):
        from sglang.srt.utils import fast_topk  # SGLang's own torch version

        SELECT_MODULE.fast_topk = fast_topk
    torch.manual_seed(0)
    with CudaOnCpu():
        for padded in (True, False):
            print(json.dumps(verify_call(padded)), flush=True)


if __name__ == "__main__":
    main()
