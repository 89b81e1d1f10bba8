"""Kernel-level reproduction of #26340: the draft CUDA-graph ``kv_indices`` rows lack ``topk``.

``python draft_kv_indices.py --sglang-root DIR [--patched] [--device cuda|cpu]`` prints one
JSON object. On CPU it needs ``TRITON_INTERPRET=1``.

Real SGLang code, read from the tree under test as shipped or as the shim patches it (see
``real_code``): ``FlashInferMultiStepDraftBackend.init_cuda_graph_state`` (sizes the
buffer: the fix's home), ``init_forward_metadata_replay_cuda_graph`` and
``common_template`` (launch the real Triton kernel ``generate_draft_decode_kv_indices``
with the buffer's own row stride), and ``next_power_of_2``.

Stand-ins, named as such:

* ``StandInStepBackend`` for the per-step ``FlashInferAttnBackend``s: they take the
  metadata and do nothing with it;
* ``StandInEagleDraftInput`` and the forward batch: plain holders of the fields read;
* a guard band (unless ``--no-guard-band``): after the real ``init_cuda_graph_state``,
  ``cuda_graph_kv_indices`` is swapped for a view of the same shape, dtype and strides
  whose storage runs on past its end, filled with a sentinel. What the kernel writes past
  the buffer lands there and is counted, instead of corrupting whatever the allocator put
  next (on a GPU: silently wrong draft tokens, or an illegal address). Without it the
  write leaves the buffer for real: run so under compute-sanitizer
  (``PYTORCH_NO_CUDA_MEMORY_CACHING=1``) to see its invalid global write; every other
  tensor is allocated before the buffer, so the spill cannot land in one of them.

Workload (the fix's README): topk 4, 3 steps, captured batch sizes up to 8, context 4096;
one full batch of 8 requests of 1500 tokens (no padding). The last row needs
``topk * (seq_lens_sum + bs * steps)`` = 48096 entries; unpatched it has 8 * 4096 = 32768.
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

SENTINEL = -1
MAX_BS, POOL_SIZE = 8, 16


class StandInEagleDraftInput:
    """Stand-in for EagleDraftInput: receives the per-step kv_indptr / kv_indices views."""

    kv_indptr = kv_indices = None

    def is_draft_input(self):  # asked by common_template from 0.5.3rc2 on
        return True


class StandInForwardMode:
    """Stand-in for ForwardMode: only DECODE is read."""

    DECODE = "decode"


class StandInStepBackend:
    """Stand-in for one step's FlashInferAttnBackend."""

    def init_cuda_graph_state(self, max_bs, max_num_tokens, kv_indices_buf=None):
        pass

    def init_forward_metadata_replay_cuda_graph(self, *args, **kwargs):
        pass


def run(root, patched, device, topk, steps, context, seq_len, workdir, guard_band=True) -> dict:
    import torch

    src = real_code.Sources(root, patched)
    t = torch if device.startswith("cuda") else real_code.TorchOnDevice(torch, device)
    npo2 = real_code.load(src, "next_power_of_2", None, {}, workdir)["next_power_of_2"]
    kernel = real_code.load(src, "generate_draft_decode_kv_indices", None, {}, workdir)[
        "generate_draft_decode_kv_indices"]
    names = {"torch": t, "next_power_of_2": npo2, "EagleDraftInput": StandInEagleDraftInput,
             "ForwardMode": StandInForwardMode}
    relpath, _ = src.locate("FlashInferMultiStepDraftBackend")
    fns = real_code.load(src, "FlashInferMultiStepDraftBackend", [
        "init_cuda_graph_state", "init_forward_metadata_replay_cuda_graph", "common_template"], names, workdir)

    # The multi-step backend, with the fields FlashInferMultiStepDraftBackend.__init__ sets.
    pool_len = context + 4
    backend = SimpleNamespace(
        topk=topk, speculative_num_steps=steps, generate_draft_decode_kv_indices=kernel, page_size=1,
        kv_indptr=torch.zeros((steps, POOL_SIZE * topk + 1), dtype=torch.int32, device=device),
        kv_last_page_len=torch.ones((POOL_SIZE * topk,), dtype=torch.int32, device=device),
        attn_backends=[StandInStepBackend() for _ in range(steps)], max_context_len=context, pool_len=pool_len)
    for name, fn in fns.items():
        setattr(backend, name, fn.__get__(backend))
    req_to_token = (torch.arange(POOL_SIZE, dtype=torch.int32).unsqueeze(1) * 100000
                    + torch.arange(pool_len, dtype=torch.int32)).to(device)
    seq = torch.full((MAX_BS,), seq_len, dtype=torch.int32, device=device)
    batch = SimpleNamespace(
        batch_size=MAX_BS, req_pool_indices=torch.arange(MAX_BS, dtype=torch.int64, device=device),
        seq_lens=seq, seq_lens_cpu=seq.cpu(), seq_lens_sum=seq_len * MAX_BS,
        positions=seq.repeat_interleave(topk).to(torch.int64), spec_info=StandInEagleDraftInput(),
        req_to_token_pool=SimpleNamespace(req_to_token=req_to_token))
    backend.init_cuda_graph_state(MAX_BS, MAX_BS * topk)  # as the draft runner's __init__ calls it

    rows, width = backend.cuda_graph_kv_indices.shape
    needed = topk * (seq_len * MAX_BS + MAX_BS * steps)  # the last row's extent
    flat = None
    if guard_band:
        real = backend.cuda_graph_kv_indices
        flat = torch.full((rows * width + needed,), SENTINEL, dtype=real.dtype, device=device)
        view = flat[: rows * width].view(rows, width)
        assert view.shape == real.shape and view.stride() == real.stride() and view.dtype == real.dtype
        backend.cuda_graph_kv_indices = view
        del real

    backend.init_forward_metadata_replay_cuda_graph(batch, MAX_BS)
    if device.startswith("cuda"):
        torch.cuda.synchronize()

    first = backend.cuda_graph_kv_indices[0, :seq_len].cpu()
    copied = bool((first == req_to_token[0, :seq_len].cpu()).all())
    return {
        "release": src.tree.version(), "patched": patched, "fixes_in_file": src.fixes_applied(relpath),
        "device": device, "topk": topk, "steps": steps, "context": context, "batch": MAX_BS, "seq_len": seq_len,
        "row_width": width, "last_row_needs": needed, "guard_band": guard_band,
        "past_buffer": int((flat[rows * width:] != SENTINEL).sum()) if flat is not None else None,
        "kernel_copied_prefix": copied,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sglang-root", required=True)
    p.add_argument("--patched", action="store_true")
    p.add_argument("--device", default="cuda")
    p.add_argument("--topk", type=int, default=4)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--context", type=int, default=4096)
    p.add_argument("--seq-len", type=int, default=1500)
    p.add_argument("--no-guard-band", action="store_true", help="let the spill leave the buffer (compute-sanitizer)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        out = run(args.sglang_root, args.patched, args.device, args.topk, args.steps, args.context, args.seq_len,
                  workdir, guard_band=not args.no_guard_band)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
