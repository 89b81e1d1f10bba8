"""Kernel-level reproduction of the draft ``kv_indptr`` row spill (draft-kv-indptr-capture-bs,
and the same sizing in the Triton multi-step draft backend): the draft CUDA graph is
captured for the request pool rounded up to the two-batch-overlap alignment, the
multi-step backend sizes ``kv_indptr`` rows for the pool only, and the kernel writes
``bs * topk + 1`` entries a row.

``python draft_kv_indptr.py --sglang-root DIR [--patched] [--device cuda|cpu]
[--backend flashinfer|triton] [--no-guard-band]`` prints one JSON object. On CPU it needs
``TRITON_INTERPRET=1``.

Real SGLang code, read from the tree under test as shipped or as the shim patches it (see
``real_code``): ``get_batch_sizes_to_capture`` (what the draft runner captures), the
multi-step draft backend's ``__init__`` (sizes ``kv_indptr``: the fix's home),
``init_cuda_graph_state`` and ``common_template`` (launch the real Triton kernel
``generate_draft_decode_kv_indices`` with the row width as its stride), and the helpers
they call.

Stand-ins, named as such:

* ``StandInStepBackend`` for the per-step FlashInfer / Triton attention backends the
  wrapper builds: it records the length of the ``kv_indptr`` each step would hand its
  kernel;
* ``StandInServerArgs``: the server flags of the scenario; reading a flag it does not
  hold raises, naming it (a diff that starts reading another flag must say so here);
* ``StandInParallel`` and friends: one GPU, no DP attention (attention TP and CP size 1);
* the model runner, the forward batch and ``StandInEagleDraftInput``: plain holders;
* a guard band (unless ``--no-guard-band``): ``kv_indptr`` swapped for a view of the same
  shape, dtype and strides whose storage runs on past its end, filled with a sentinel,
  so what the kernel writes past the tensor is counted. Without it, the write leaves the
  tensor for real: run so under compute-sanitizer (``PYTORCH_NO_CUDA_MEMORY_CACHING=1``,
  every tensor its own allocation) to see the sanitizer's invalid global write.

Workload: two-batch overlap, a request pool of 5, ``--cuda-graph-bs 1 2 4 8``, topk 4, 3
steps. The runner captures [2, 4, 6]; a full pool of 5 replays the graph of 6, whose
rows need 6 * 4 + 1 = 25 entries.
"""

from __future__ import annotations

import argparse
import bisect
import json
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent.parent)]

import real_code  # noqa: E402

SENTINEL = -7
GUARD = 64
CAPTURE_BS = [1, 2, 4, 8]
# Short requests: the kv_indices rows must hold what the kernel writes even without the
# topk factor (0.5.12.post1 also has #26340, another fix), so only kv_indptr spills.
CONTEXT, SEQ_LEN = 64, 10
BACKENDS = {"flashinfer": ("FlashInferMultiStepDraftBackend", "FlashInferAttnBackend"),
            "triton": ("TritonMultiStepDraftBackend", "TritonAttnBackend")}


class StandInServerArgs:
    """Stand-in for ServerArgs: the scenario's flags only; any other read raises, naming it."""

    def __init__(self, **flags):
        self.__dict__.update(flags)

    def __getattr__(self, name):
        raise AttributeError(f"StandInServerArgs holds no {name!r}: the code under test reads a server flag "
                             f"this harness does not set (add it to draft_kv_indptr.py)")


class StandInParallel:
    """Stand-in for get_parallel(): one GPU, no attention TP/CP split."""

    attn_tp_size = attn_cp_size = attn_dp_size = tp_size = 1


class StandInEagleDraftInput:
    """Stand-in for EagleDraftInput: receives the per-step kv_indptr / kv_indices views."""

    kv_indptr = kv_indices = None

    def is_draft_input(self):
        return True


class StandInForwardMode:
    """Stand-in for ForwardMode: only DECODE is read."""

    DECODE = "decode"


class StandInStepBackend:
    """Stand-in for one step's FlashInferAttnBackend / TritonAttnBackend."""

    max_kv_splits = 8

    def __init__(self, model_runner, skip_prefill=False, kv_indptr_buf=None, kv_last_page_len_buf=None, **kwargs):
        self.max_context_len = model_runner.model_config.context_len
        self.kv_indptr = kv_indptr_buf
        self.window_kv_indptr = None  # as the real TritonAttnBackend without a sliding window

    def get_cuda_graph_seq_len_fill_value(self):
        return 1

    def init_cuda_graph_state(self, *args, **kwargs):
        pass


def run(root, patched, device, backend_name, topk, steps, pool, guard_band, workdir) -> dict:
    import torch

    cls_name, step_name = BACKENDS[backend_name]
    src = real_code.Sources(root, patched)
    t = torch if device.startswith("cuda") else real_code.TorchOnDevice(torch, device)
    kernel = real_code.load(src, "generate_draft_decode_kv_indices", None, {}, workdir)[
        "generate_draft_decode_kv_indices"]
    npo2 = real_code.load(src, "next_power_of_2", None, {}, workdir)["next_power_of_2"]
    # Up to 0.5.13 the FlashInfer wrapper's __init__ imports the kernel in its body.
    real_code.standin_module("sglang.srt.speculative.spec_utils", generate_draft_decode_kv_indices=kernel)
    parallel = {"get_parallel": StandInParallel, "get_attention_tp_size": lambda: 1,
                "get_attention_cp_size": lambda: 1, "require_gathered_buffer": lambda server_args: False,
                "get_flags": lambda: SimpleNamespace(capture=SimpleNamespace(enable_torch_compile=False))}
    capture = real_code.load(src, "get_batch_sizes_to_capture", None, dict(parallel), workdir)[
        "get_batch_sizes_to_capture"]
    names = {"torch": t, "next_power_of_2": npo2, "generate_draft_decode_kv_indices": kernel,
             step_name: StandInStepBackend, "EagleDraftInput": StandInEagleDraftInput,
             "ForwardMode": StandInForwardMode, **parallel}
    relpath, _ = src.locate(cls_name)
    fns = real_code.load(src, cls_name, ["__init__", "init_cuda_graph_state", "common_template"], names, workdir)

    server_args = StandInServerArgs(
        cuda_graph_bs=list(CAPTURE_BS), cuda_graph_max_bs=max(CAPTURE_BS),
        cuda_graph_config=SimpleNamespace(decode=SimpleNamespace(bs=list(CAPTURE_BS))),
        enable_two_batch_overlap=True, enable_dp_attention=False, enable_torch_compile=False,
        torch_compile_max_bs=32, page_size=1, speculative_eagle_topk=topk, speculative_num_steps=steps)
    pool_len = CONTEXT + 4
    # Allocated before the backend, so the only allocation the spill can reach is kv_indptr's own.
    req_to_token = (torch.arange(pool, dtype=torch.int32).unsqueeze(1) * 100000
                    + torch.arange(pool_len, dtype=torch.int32)).to(device)
    model_runner = SimpleNamespace(
        server_args=server_args, device=device, page_size=1,
        req_to_token_pool=SimpleNamespace(size=pool, req_to_token=req_to_token),
        model_config=SimpleNamespace(context_len=CONTEXT, num_attention_heads=4))

    captured, _compile_bs = capture(SimpleNamespace(server_args=server_args, req_to_token_pool=model_runner.req_to_token_pool),
                                    topk)
    bs = captured[bisect.bisect_left(captured, pool)]  # the graph a full pool replays, as the runner picks it
    raw_bs = pool
    seq = torch.tensor([SEQ_LEN + i for i in range(raw_bs)] + [1] * (bs - raw_bs), dtype=torch.int32, device=device)
    pool_indices = torch.tensor(list(range(raw_bs)) + [0] * (bs - raw_bs), dtype=torch.int64, device=device)
    positions = (seq.to(torch.int64) * (torch.arange(bs, device=device) < raw_bs)).repeat_interleave(topk)
    backend = SimpleNamespace()
    for name, fn in fns.items():
        setattr(backend, name, fn.__get__(backend))
    backend.__init__(model_runner, topk, steps)
    backend.init_cuda_graph_state(max(captured), max(captured) * topk)  # as the draft runner's __init__ does

    steps_rows, width = backend.kv_indptr.shape
    flat = None
    if guard_band:
        real = backend.kv_indptr
        flat = torch.full((steps_rows * width + GUARD,), SENTINEL, dtype=real.dtype, device=device)
        view = flat[: steps_rows * width].view(steps_rows, width)
        view.copy_(real)
        assert view.stride() == real.stride()
        backend.kv_indptr = view

    handed = []

    def call_fn(i, forward_batch):  # what each step's attention backend would be handed
        handed.append(int(forward_batch.spec_info.kv_indptr.numel()))

    batch = SimpleNamespace(
        batch_size=bs, req_pool_indices=pool_indices, seq_lens=seq, seq_lens_cpu=seq.cpu(),
        seq_lens_sum=int(seq.sum()), positions=positions, spec_info=StandInEagleDraftInput(),
        req_to_token_pool=model_runner.req_to_token_pool, forward_mode=StandInForwardMode.DECODE)
    backend.common_template(batch, backend.cuda_graph_kv_indices, call_fn)
    if device.startswith("cuda"):
        torch.cuda.synchronize()

    kv_row = int(backend.cuda_graph_kv_indices.shape[1])
    kv_written = topk * int(seq.sum()) + bs * topk * steps  # the last step's extent in its kv_indices row
    copied = bool((backend.cuda_graph_kv_indices[0, :SEQ_LEN].cpu().to(torch.int64)
                   == req_to_token[0, :SEQ_LEN].cpu().to(torch.int64)).all())
    last_page = getattr(backend, "kv_last_page_len", None)
    return {
        "release": src.tree.version(), "patched": patched, "backend": backend_name, "class": cls_name,
        "fixes_in_file": src.fixes_applied(relpath), "device": device, "topk": topk, "steps": steps, "pool": pool,
        "captured": list(captured), "raw_bs": raw_bs, "bs": bs, "row": width, "needed": bs * topk + 1,
        "guard_band": guard_band,
        "past_buffer": int((flat[steps_rows * width:] != SENTINEL).sum()) if flat is not None else None,
        "row_starts": [int(backend.kv_indptr[i, 0]) for i in range(1, steps_rows)],
        "handed": handed, "last_page_len": int(last_page.numel()) if last_page is not None else None,
        "kernel_copied_prefix": copied, "kv_indices_fit": kv_written <= kv_row,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sglang-root", required=True)
    p.add_argument("--patched", action="store_true")
    p.add_argument("--device", default="cuda")
    p.add_argument("--backend", choices=sorted(BACKENDS), default="flashinfer")
    p.add_argument("--topk", type=int, default=4)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--pool", type=int, default=5)
    p.add_argument("--no-guard-band", action="store_true", help="let the spill leave the tensor (compute-sanitizer)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        out = run(args.sglang_root, args.patched, args.device, args.backend, args.topk, args.steps, args.pool,
                  not args.no_guard_band, workdir)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
