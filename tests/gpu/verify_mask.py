"""Kernel-level reproduction of #9481: the verify tree mask against FlashInfer's mask_indptr.

``python verify_mask.py --sglang-root DIR [--patched] [--device cuda|cpu] [--flashinfer]``
prints one JSON object. On CPU it needs ``TRITON_INTERPRET=1``.

Real SGLang code, read from the tree under test as shipped or as the shim patches it
(see ``real_code``): ``EagleVerifyInput.generate_attn_arg_prefill`` (where the fix
lives), the Triton kernel ``create_flashinfer_kv_indices_triton`` it launches, and
``FlashInferAttnBackend.get_cuda_graph_seq_len_fill_value``. With ``--flashinfer`` the
result goes to the real FlashInfer ``BatchPrefillWithPagedKVCacheWrapper`` plan, called
the way SGLang's prefill updater calls it; its ``segment_packbits`` reads the mask up to
``mask_indptr[-1]``. Run under ``compute-sanitizer`` with
``PYTORCH_NO_CUDA_MEMORY_CACHING=1`` (every tensor its own allocation), a short mask is
reported as an invalid global read.

Stand-ins, named as such:

* the tree mask built by ``build_tree_kernel_efficient`` for the live (raw) batch:
  only its length matters here, ``seq_lens_sum * D + D * D * raw_bs`` booleans;
* ``CudaGraphRunner.replay_prepare``'s padding: pool indices and ``seq_lens`` copied into
  the graph's buffers, padded slots left at 0 and the fill value, and
  ``seq_lens_sum + (bs - raw_bs) * fill`` handed on;
* the spec-info object holding ``draft_token_num`` and ``custom_mask``.

Workload: 5 live requests (not a captured batch size), padded to 8; 16 draft tokens.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent.parent)]

import real_code  # noqa: E402
import spec_probe  # noqa: E402  (mask_indptr_end: the one formula the suite uses)

CAPTURE_BS = [1, 2, 4, 8]
POOL_SIZE, POOL_LEN = 16, 256
NUM_HEADS, HEAD_DIM = 2, 128


def run(root, patched, device, draft_tokens, seq_lens, with_flashinfer, workdir) -> dict:
    import torch

    src = real_code.Sources(root, patched)
    t = torch if device.startswith("cuda") else real_code.TorchOnDevice(torch, device)
    kernel = real_code.load(src, "create_flashinfer_kv_indices_triton", None, {}, workdir)[
        "create_flashinfer_kv_indices_triton"]
    fill = real_code.load(src, "FlashInferAttnBackend", ["get_cuda_graph_seq_len_fill_value"], {}, workdir)[
        "get_cuda_graph_seq_len_fill_value"](None)
    relpath, _ = src.locate("EagleVerifyInput")
    generate = real_code.load(src, "EagleVerifyInput", ["generate_attn_arg_prefill"],
                              {"torch": t, "create_flashinfer_kv_indices_triton": kernel}, workdir)[
        "generate_attn_arg_prefill"]

    d, raw_bs = draft_tokens, len(seq_lens)
    bs = next(b for b in CAPTURE_BS if b >= raw_bs)
    raw_sum = sum(seq_lens)
    req_to_token = (torch.arange(POOL_SIZE, dtype=torch.int32).unsqueeze(1) * 100000
                    + torch.arange(POOL_LEN, dtype=torch.int32)).to(device)
    # Stand-in for the tree mask of the live batch (build_tree_kernel_efficient's length).
    mask = torch.ones(raw_sum * d + d * d * raw_bs, dtype=torch.bool, device=device)
    spec_info = SimpleNamespace(draft_token_num=d, custom_mask=mask)
    # Stand-in for replay_prepare's padding into the graph's buffers.
    pool_buf = torch.zeros((max(CAPTURE_BS),), dtype=torch.int32, device=device)
    lens_buf = torch.full((max(CAPTURE_BS),), fill, dtype=torch.int32, device=device)
    pool_buf[:raw_bs] = torch.arange(raw_bs, dtype=torch.int32, device=device) + 3
    lens_buf[:raw_bs] = torch.tensor(seq_lens, dtype=torch.int32, device=device)
    padded_sum = raw_sum + (bs - raw_bs) * fill

    kv_indices, kv_indptr, qo_indptr, custom_mask = generate.__get__(spec_info)(
        pool_buf[:bs], lens_buf[:bs], padded_sum, req_to_token)
    needed = spec_probe.mask_indptr_end(qo_indptr, kv_indptr)
    copied = bool((kv_indices[: seq_lens[0]].cpu() == req_to_token[3, : seq_lens[0]].cpu()).all())
    out = {
        "release": src.tree.version(), "patched": patched, "fixes_in_file": src.fixes_applied(relpath),
        "device": device, "draft_tokens": d, "raw_bs": raw_bs, "bs": bs, "fill": fill,
        # rows the real generate_attn_arg_prefill returned indptrs for (bs when it saw the padded batch)
        "qo_indptr_rows": int(qo_indptr.numel()) - 1, "kv_indptr_rows": int(kv_indptr.numel()) - 1,
        "mask_numel": int(custom_mask.numel()), "mask_indptr_end": needed,
        "short_by": max(needed - int(custom_mask.numel()), 0), "kernel_copied_prefix": copied,
        "flashinfer": None, "plan_error": None,
    }
    if with_flashinfer:
        import flashinfer

        out["flashinfer"] = getattr(flashinfer, "__version__", "?")
        workspace = torch.empty(128 * 1024 * 1024, dtype=torch.uint8, device=device)
        wrapper = flashinfer.BatchPrefillWithPagedKVCacheWrapper(workspace, "NHD")
        last_page_len = torch.ones((bs,), dtype=torch.int32, device=device)
        try:  # the call SGLang's prefill updater makes for target verify
            wrapper.begin_forward(qo_indptr, kv_indptr, kv_indices, last_page_len, NUM_HEADS, NUM_HEADS,
                                  HEAD_DIM, 1, q_data_type=torch.bfloat16, kv_data_type=torch.bfloat16,
                                  custom_mask=custom_mask, non_blocking=True)
            torch.cuda.synchronize()
        except Exception as exc:  # recorded; counts only beside the sanitizer's own evidence (test_issue_9481)
            out["plan_error"] = f"{type(exc).__name__}: {exc}"
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sglang-root", required=True)
    p.add_argument("--patched", action="store_true")
    p.add_argument("--device", default="cuda")
    p.add_argument("--draft-tokens", type=int, default=16)
    p.add_argument("--flashinfer", action="store_true")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        out = run(args.sglang_root, args.patched, args.device, args.draft_tokens, [30, 41, 52, 63, 74],
                  args.flashinfer, workdir)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
