"""Reproduce the n-gram twin of #9481 on CPU with SGLang's own code: under CUDA-graph
padding the n-gram verify step hands FlashInfer a tree mask shorter than the offsets
FlashInfer reads.

Runs inside the CPU SGLang environment, with one SGLang release on PYTHONPATH.

Real: ``NgramVerifyInput`` (its ``__init__``) and its ``generate_attn_arg_prefill``,
which runs the Triton kernel ``create_flashinfer_kv_indices_triton`` (under
TRITON_INTERPRET=1) on the real ``req_to_token`` of a ``ReqToTokenPool``; the seq_len
fill value comes from ``FlashInferAttnBackend.get_cuda_graph_seq_len_fill_value``.

Stand-ins, named as such below:
- ``StandInNgramCorpus``: the n-gram corpus (a compiled C++ extension) that proposes
  D draft tokens per request and their D x D tree mask (random trees here).
- ``standin_full_tree_mask``: the mask assembly at the end of
  ``NGRAMWorker._prepare_for_speculative_decoding`` (``USE_FULL_MASK``, True in every
  release), which needs the corpus and sgl_kernel's CUDA ``reconstruct_indices_from_tree_mask``
  first: per request D rows of ``seq_len + D`` bits, the prefix all True, then the
  corpus's tree rows; requests one after another.
- ``standin_flashinfer_mask_indptr``: FlashInfer's prefill ``plan``, reduced to the
  offsets it computes into the custom mask (request i owns ``qo_len_i * kv_len_i``
  bits; page size 1), which ``segment_packbits`` then reads.
- ``pad_like_replay_prepare``: what ``CudaGraphRunner.replay_prepare`` does to the
  batch before the attention backend is planned (pad to the next captured size; the
  padded rows get pool index 0 and the backend's seq_len fill value).
- CUDA placement (``cuda_on_cpu``).

Scenario: 8 draft tokens, captured sizes [1, 2, 4, 8]; a verify batch of 5 requests
(padded to 8), the same batch eagerly (not padded), and the padded call made twice on
one input (FlashInfer plans once per wrapper). Prints one JSON line per call.
"""

from __future__ import annotations

import bisect
import json

import torch
from cuda_on_cpu import CudaOnCpu
from sglang_objects import release_attr

from sglang.srt.layers.attention.flashinfer_backend import FlashInferAttnBackend
from sglang.srt.mem_cache.memory_pool import ReqToTokenPool

D = 8
CAPTURE_BS = [1, 2, 4, 8]
SEQ_LENS = [37, 12, 50, 23, 64]  # tokens already in the KV cache, per request
VOCAB = 64

# ngram_utils.py in 0.5.3rc2 and 0.5.3, ngram_info.py from 0.5.3.post1 on.
NgramVerifyInput = release_attr(
    "NgramVerifyInput", "sglang.srt.speculative.ngram_info", "sglang.srt.speculative.ngram_utils")


class StandInNgramCorpus:
    """Stand-in for the n-gram corpus's batch lookup: per request D draft tokens (the
    first is the last verified token) and a D x D tree mask in which each draft token
    sees itself and its ancestors (a random tree: token t hangs under some s < t)."""

    def __init__(self, seed=0):
        self.gen = torch.Generator().manual_seed(seed)

    def batch_get(self, bs):
        tokens = torch.randint(0, VOCAB, (bs * D,), generator=self.gen)
        masks = torch.zeros(bs, D, D, dtype=torch.bool)
        for b in range(bs):
            masks[b, 0, 0] = True
            for t in range(1, D):
                parent = int(torch.randint(0, t, (1,), generator=self.gen))
                masks[b, t] = masks[b, parent]
                masks[b, t, t] = True
        return tokens, masks


def standin_full_tree_mask(seq_lens, tree_masks):
    """Stand-in for the USE_FULL_MASK assembly in NGRAMWorker._prepare_for_speculative_decoding:
    request b owns D rows of (seq_len_b + D) bits, all prefix bits True, then its tree rows."""
    rows = [torch.cat([torch.ones(D, seq_len, dtype=torch.bool), tree], dim=1).flatten()
            for seq_len, tree in zip(seq_lens, tree_masks)]
    return torch.cat(rows).to("cuda")


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


def verify_calls(padded, calls=1):
    pool = ReqToTokenPool(size=16, max_context_len=128, device="cuda", enable_memory_saver=False)
    raw_bs = len(SEQ_LENS)
    # Slots 1..raw_bs: the pool's own alloc() changes its signature across releases, and
    # slot 0 stays what the padded rows point at.
    req_pool_indices = torch.arange(1, raw_bs + 1, dtype=torch.int64)
    next_slot = 1
    for idx, seq_len in zip(req_pool_indices.tolist(), SEQ_LENS):
        n = seq_len + D  # prefix plus the draft tokens' slots (prepare_for_verify assigns them)
        pool.write((idx, slice(0, n)), torch.arange(next_slot, next_slot + n, dtype=torch.int32))
        next_slot += n
    tokens, trees = StandInNgramCorpus().batch_get(raw_bs)
    built = standin_full_tree_mask(SEQ_LENS, trees)
    positions = torch.zeros(raw_bs * D, dtype=torch.int64)  # written by the CUDA kernel; unused here
    retrieve = torch.zeros(raw_bs, D, dtype=torch.int64)
    verify = NgramVerifyInput(tokens, built, positions, retrieve, retrieve.clone(), retrieve.clone(), D)
    mask_before = built.clone()
    fill = FlashInferAttnBackend.get_cuda_graph_seq_len_fill_value(object.__new__(FlashInferAttnBackend))
    seq_lens = torch.tensor(SEQ_LENS, dtype=torch.int32)
    pool_idx, lens, lens_sum = pad_like_replay_prepare(req_pool_indices, seq_lens, fill, padded)
    for call in range(calls):
        kv_indices, kv_indptr, qo_indptr, mask = verify.generate_attn_arg_prefill(
            pool_idx, lens, lens_sum, pool.req_to_token)
    mask_indptr = standin_flashinfer_mask_indptr(qo_indptr, kv_indptr)
    real_end = int(mask_indptr[raw_bs])
    # kv_indices of the real rows are the slots written into req_to_token
    expected_kv = torch.cat([pool.req_to_token[i, :s + D] for i, s in zip(req_pool_indices.tolist(), SEQ_LENS)])
    return {
        "padded": padded, "calls": calls, "raw_bs": raw_bs, "bs": len(pool_idx), "fill": fill, "D": D,
        "mask_built": int(mask_before.numel()),
        "mask_numel": int(mask.numel()),
        "mask_indptr_end": int(mask_indptr[-1]),
        "real_rows_end": real_end,
        "real_bits_equal": bool(torch.equal(mask[:real_end], mask_before[:real_end])),
        "tail_all_true": bool(mask[real_end:].all()),
        "returned_is_input": mask is verify.custom_mask,
        "input_mask_unchanged": bool(verify.custom_mask is built and torch.equal(built, mask_before)),
        "real_kv_ok": bool(torch.equal(kv_indices[:int(kv_indptr[raw_bs])], expected_kv)),
    }


def main():
    torch.manual_seed(0)
    with CudaOnCpu():
        for padded, calls in ((True, 1), (False, 1), (True, 2)):
            print(json.dumps(verify_calls(padded, calls)), flush=True)


if __name__ == "__main__":
    main()
