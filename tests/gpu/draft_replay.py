"""Kernel-level reproduction of #9888 / #9521: the real draft replay feeding the real kernel.

``python draft_replay.py --sglang-root DIR [--patched] [--device cuda|cpu] ...`` prints
one JSON object. On CPU it needs ``TRITON_INTERPRET=1`` (Triton's interpreter runs the
kernel on CPU tensors).

Real SGLang code, read from the tree under test as shipped or as the shim patches it
(see ``real_code``):

* ``EAGLEDraftCudaGraphRunner.replay`` and ``_postprocess_output_to_raw_bs`` - the
  padding of a live batch up to the captured batch size (the bug's home);
* ``FlashInferMultiStepDraftBackend.init_cuda_graph_state``,
  ``init_forward_metadata_replay_cuda_graph`` and ``common_template`` - the draft
  attention metadata, launching the real Triton kernel
  ``generate_draft_decode_kv_indices``;
* ``FlashInferAttnBackend.get_cuda_graph_seq_len_fill_value`` and ``next_power_of_2``.

Stand-ins (GPU-only or heavy parts, named as such):

* ``StandInDraftGraph`` for each captured CUDA graph. Replaying it does to the graph's
  input buffers what the captured body (``EAGLEWorker.draft_forward``) does: it advances
  ``positions`` in place once per draft step but the last. Capturing runs that body
  twice for warm-up, as ``capture_one_batch_size`` does.
* ``StandInStepBackend`` for the per-step ``FlashInferAttnBackend``: it takes the
  metadata FlashInfer's plan would get and checks it against what the kernel wrote.
* ``StandInEagleDraftInput``, ``StandInForwardMode`` and the forward batches and model
  runner: plain holders of the fields the real code reads.

Workload (the dossier's): captured batch sizes [1, 2, 4, 8]; a batch of 8 long requests,
then a steady batch of 5 (padded to 8 on every replay) whose requests grow by one or
two tokens per step and start over when near the context end, as new requests in the
same slots would.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent.parent)]  # real_code; the checkout's sglang_spec_patches

import real_code  # noqa: E402

CAPTURE_BS = [1, 2, 4, 8]
POOL_SIZE = 16
HIDDEN = 16


class StandInEagleDraftInput:
    """Stand-in for EagleDraftInput: holds the draft inputs; the real code only checks its type."""

    def __init__(self, topk_p=None, topk_index=None, hidden_states=None):
        self.topk_p, self.topk_index, self.hidden_states = topk_p, topk_index, hidden_states
        self.kv_indptr = self.kv_indices = None

    def is_draft_input(self):  # asked by common_template from 0.5.3rc2 on
        return True


class StandInForwardMode:
    """Stand-in for ForwardMode: only DECODE is read."""

    DECODE = "decode"


class StandInStepBackend:
    """Stand-in for one step's FlashInferAttnBackend: checks what FlashInfer's plan would get."""

    def __init__(self, harness, step: int):
        self.harness, self.step = harness, step

    def init_cuda_graph_state(self, max_bs, max_num_tokens, kv_indices_buf=None):
        pass

    def init_forward_metadata_replay_cuda_graph(self, bs, req_pool_indices, seq_lens, *args, spec_info=None,
                                                **kwargs):
        self.harness.check_step(self.step, bs, seq_lens, spec_info.kv_indptr)


class StandInDraftGraph:
    """Stand-in for a captured draft CUDA graph (see the module docstring)."""

    def __init__(self, runner, bs: int):
        self.runner, self.bs = runner, bs

    def run_body(self):
        n = self.bs * self.runner.num_tokens_per_bs
        for _ in range(self.runner.speculative_num_steps - 1):
            self.runner.positions[:n].add_(1)  # forward_batch.positions.add_(1) in draft_forward

    def replay(self):
        self.run_body()


class Harness:
    def __init__(self, root, patched, device, topk, steps, context, torch, workdir):
        self.torch, self.device = torch, device
        self.topk, self.steps, self.context = topk, steps, context
        src = real_code.Sources(root, patched)
        self.sources = src
        t = torch if device.startswith("cuda") else real_code.TorchOnDevice(torch, device)
        npo2 = real_code.load(src, "next_power_of_2", None, {}, workdir)["next_power_of_2"]
        kernel = real_code.load(src, "generate_draft_decode_kv_indices", None, {}, workdir)[
            "generate_draft_decode_kv_indices"]
        names = {"torch": t, "next_power_of_2": npo2, "EagleDraftInput": StandInEagleDraftInput,
                 "ForwardMode": StandInForwardMode}
        fill_fn = real_code.load(src, "FlashInferAttnBackend", ["get_cuda_graph_seq_len_fill_value"], names, workdir)
        backend_fns = real_code.load(src, "FlashInferMultiStepDraftBackend", [
            "init_cuda_graph_state", "init_forward_metadata_replay_cuda_graph", "common_template"], names, workdir)
        import bisect

        runner_fns = real_code.load(src, "EAGLEDraftCudaGraphRunner", ["replay", "_postprocess_output_to_raw_bs"],
                                    {"torch": t, "bisect": bisect}, workdir)

        # The multi-step backend, with the fields FlashInferMultiStepDraftBackend.__init__ sets.
        backend = SimpleNamespace(
            topk=topk, speculative_num_steps=steps, generate_draft_decode_kv_indices=kernel, page_size=1,
            kv_indptr=torch.zeros((steps, POOL_SIZE * topk + 1), dtype=torch.int32, device=device),
            kv_last_page_len=torch.ones((POOL_SIZE * topk,), dtype=torch.int32, device=device),
            attn_backends=[StandInStepBackend(self, i) for i in range(steps)],
            max_context_len=context, pool_len=context + 4)
        for name, fn in backend_fns.items():
            setattr(backend, name, fn.__get__(backend))
        self.backend = backend

        # The draft runner, with the fields EAGLEDraftCudaGraphRunner.__init__ sets.
        max_bs = max(CAPTURE_BS)
        fill = fill_fn["get_cuda_graph_seq_len_fill_value"](None)
        runner = SimpleNamespace(
            model_runner=SimpleNamespace(draft_attn_backend=backend,
                                         spec_algorithm=SimpleNamespace(is_eagle=lambda: True)),
            capture_bs=list(CAPTURE_BS), num_tokens_per_bs=topk, max_bs=max_bs, max_num_token=max_bs * topk,
            speculative_num_steps=steps, topk=topk, seq_len_fill_value=fill,
            require_gathered_buffer=False, require_mlp_tp_gather=False, require_mlp_sync=False,
            graphs={}, output_buffers={})
        backend.init_cuda_graph_state(runner.max_bs, runner.max_num_token)  # as the runner's __init__ does
        runner.seq_lens_cpu = torch.full((max_bs,), fill, dtype=torch.int32)
        on = {"device": device}
        runner.input_ids = torch.zeros((runner.max_num_token,), dtype=torch.int64, **on)
        runner.req_pool_indices = torch.zeros((max_bs,), dtype=torch.int32, **on)
        runner.seq_lens = torch.full((max_bs,), fill, dtype=torch.int32, **on)
        runner.out_cache_loc = torch.zeros((runner.max_num_token * steps,), dtype=torch.int64, **on)
        runner.positions = torch.zeros((runner.max_num_token,), dtype=torch.int64, **on)
        runner.topk_p = torch.zeros((max_bs, topk), dtype=torch.float32, **on)
        runner.topk_index = torch.zeros((max_bs, topk), dtype=torch.int64, **on)
        runner.hidden_states = torch.zeros((max_bs, HIDDEN), dtype=torch.float32, **on)
        for name, fn in runner_fns.items():
            setattr(runner, name, fn.__get__(runner))
        for bs in CAPTURE_BS:  # capture: two eager warm-up runs of the body per batch size
            graph = StandInDraftGraph(runner, bs)
            graph.run_body()
            graph.run_body()
            runner.graphs[bs] = graph
            runner.output_buffers[bs] = tuple(
                [torch.zeros((bs, topk), **on) for _ in range(steps)] for _ in range(3))
        self.runner = runner

        # req_to_token rows hold distinct slot ids, so what the kernel copies can be checked.
        cols = context + 4
        self.req_to_token = (torch.arange(POOL_SIZE, dtype=torch.int32).unsqueeze(1) * 100000
                             + torch.arange(cols, dtype=torch.int32)).to(device)
        self.replay_index = 0
        self.padded = False
        self.records = []  # per padded step check
        self.write_past_row = False
        self.unrestored = 0  # replays after which the batch did not have its live size back

    def check_step(self, step, bs, seq_lens, kv_indptr):
        """What the step's FlashInfer plan gets: kv_indptr over bs*topk rows of kv_indices."""
        n = bs * self.topk
        end = int(kv_indptr[n])
        written = self.topk * int(seq_lens[:bs].sum()) + n * (step + 1)
        row_width = int(self.backend.cuda_graph_kv_indices.shape[1])
        self.write_past_row |= written > row_width
        self.records.append({"replay": self.replay_index, "padded": self.padded, "step": step, "bs": bs,
                             "kv_indptr_end": end, "written": written, "row_width": row_width})

    def replay(self, pool_indices, seq_lens):
        torch, dev, topk = self.torch, self.device, self.topk
        raw_bs = len(seq_lens)
        seq = torch.tensor(seq_lens, dtype=torch.int32, device=dev)
        batch = SimpleNamespace(
            batch_size=raw_bs,
            req_pool_indices=torch.tensor(pool_indices, dtype=torch.int64, device=dev),
            seq_lens=seq, seq_lens_cpu=seq.cpu(), seq_lens_sum=int(sum(seq_lens)),
            out_cache_loc=torch.arange(raw_bs * topk * self.steps, dtype=torch.int64, device=dev),
            positions=seq.repeat_interleave(topk).to(torch.int64),  # as EAGLEWorker's draft preprocessing sets them
            spec_info=StandInEagleDraftInput(
                topk_p=torch.rand((raw_bs, topk), device=dev),
                topk_index=torch.zeros((raw_bs, topk), dtype=torch.int64, device=dev),
                hidden_states=torch.zeros((raw_bs, HIDDEN), device=dev)),
            req_to_token_pool=SimpleNamespace(req_to_token=self.req_to_token),
            global_num_tokens_cpu=None)
        self.padded = raw_bs not in CAPTURE_BS
        self.runner.replay(batch)
        # The runner pads batch_size for the graph and must hand the live size back.
        self.unrestored += batch.batch_size != raw_bs
        self.replay_index += 1
        return batch

    def kernel_copied_prefix(self, pool_index, seq_len) -> bool:
        """The real kernel copied request 0's req_to_token prefix into step 0's kv_indices."""
        got = self.backend.cuda_graph_kv_indices[0, :seq_len].cpu()
        return bool((got == self.req_to_token[pool_index, :seq_len].cpu()).all())


def workload(topk, steps, context, replays):
    """(pool indices, seq lens) per replay: 8 long requests, then a steady batch of 5."""
    # Lengths stay where every correct write fits: the kernel reads req_to_token up to
    # seq_len + topk*steps - 1, and 8 requests must fit one kv_indices row even without
    # the topk factor (that is another fix, draft-kv-indices-topk).
    cap = min(context - topk * steps, context // topk - steps)
    for r in range(4):
        yield list(range(8)), [cap - 8 + i - (3 - r) for i in range(8)]
    lens = [8 + 3 * i for i in range(5)]
    for r in range(replays - 4):
        yield list(range(8, 13)), list(lens)
        lens = [x + 1 + (i + r) % 2 if x + 2 <= cap else 8 for i, x in enumerate(lens)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sglang-root", required=True)
    p.add_argument("--patched", action="store_true")
    p.add_argument("--device", default="cuda")
    p.add_argument("--topk", type=int, default=1)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--context", type=int, default=64)
    p.add_argument("--replays", type=int, default=100)
    args = p.parse_args(argv)

    import torch

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as workdir:
        h = Harness(args.sglang_root, args.patched, args.device, args.topk, args.steps, args.context, torch, workdir)
        first_batch = None
        for pool, lens in workload(args.topk, args.steps, args.context, args.replays):
            h.replay(pool, lens)
            if first_batch is None:
                first_batch = (pool[0], lens[0])
                copied = h.kernel_copied_prefix(*first_batch)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    bad = [r for r in h.records if r["kv_indptr_end"] > r["written"]]
    past = [r for r in h.records if r["kv_indptr_end"] > r["row_width"]]
    runner_file = "sglang/srt/speculative/eagle_draft_cuda_graph_runner.py"
    print(json.dumps({
        "release": h.sources.tree.version(),
        "patched": args.patched,
        "fixes_in_runner": h.sources.fixes_applied(runner_file),
        "device": args.device, "topk": args.topk, "steps": args.steps, "context": args.context,
        "replays": h.replay_index,
        "padded_replays": len({r["replay"] for r in h.records if r["padded"]}),
        "step_checks": len(h.records),
        "violations": len(bad),
        "first_violation": bad[0] if bad else None,
        "first_past_row": past[0] if past else None,
        "max_excess": max((r["kv_indptr_end"] - r["written"] for r in h.records), default=0),
        "kernel_copied_prefix": copied,
        "write_past_row": h.write_past_row,
        "batch_restored": h.replay_index > 0 and h.unrestored == 0,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
