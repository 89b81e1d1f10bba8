"""Show ``--disable-cuda-graph-padding`` sending captured batch sizes to eager mode (0.5.14 ..
0.5.15.post1) on CPU with SGLang's own runners and graph backend.

Runs inside the CPU SGLang environment, with one SGLang release on PYTHONPATH. Real: the
four runner classes the bug covers (``DecodeCudaGraphRunner``, ``EAGLEDraftCudaGraphRunner``,
``EAGLEDraftExtendCudaGraphRunner``, ``MultiLayerEagleDraftExtendCudaGraphRunner`` behind
the real ``MultiLayerEagleMultiStepDraftExtendCudaGraphRunner`` that delegates to it) with
their own ``can_run_graph``, ``_make_graph_key``, ``_resolve_lora_variant`` and
``_pad_to_bucket`` (and on 0.5.18 / 0.5.19 ``_resolve_dsa_variant``); the graph backend
the release picks for them (``resolve_decode_backend``: ``FullCudaGraphBackend``) with its
own ``capture_session``, ``capture_one``, ``can_run`` and ``replay``; the capture list from
``get_batch_sizes_to_capture``; ``ServerArgs`` (defaults, the flag set), its ``publish``
(0.5.18 on), the ``require_*`` helpers that read it, and ``ForwardBatch``.

Stand-ins, named as such: CUDA graphs (``StandInCudaGraphs``: ``torch.cuda.CUDAGraph``, the
capture context, the memory pool handle and ``synchronize``; a graph records the batch size
it was captured for and its replays); the runners' ``__init__`` (``runner_without_init``:
it builds buffers and attention state on a GPU; the fields ``can_run_graph`` reads are set
from the real ``ServerArgs`` through the release's own helpers); their capture loop
(``capture``: what ``_capture_one_stream`` does for the graph store - one
``backend.capture_one(self._make_graph_key(bs, stream, variant))`` per captured size and
LoRA variant - with a forward that only names its size); the model runner object and the
single-rank parallel state.

Scenario: ``--cuda-graph-bs 1 2 4 8`` and ``--disable-cuda-graph-padding`` (the capture list
SGLang builds itself with the flag is every size up to the maximum; a list given by hand is
kept as given, which shows both sides in one run), batches of 1 to 10 requests. Per runner
and batch, one JSON line: ``graph`` (what ``can_run_graph`` decided), and when it decided for
the graph, the size the runner pads to (``bs``) and the captured size whose graph the
backend replayed (``replayed``). Runner ``target-lora`` is the target runner recording LoRA
and no-LoRA graphs (``record_nolora_graph``), asked for a no-LoRA batch; on 0.5.18 and 0.5.19
``target-dsa`` is the target runner recording a dense and a sparse DSA graph per size
(``dsa_dual_graph``). The control (``padding: true``) is the same runners without the flag.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sys
import types
from pathlib import Path

import torch
from sglang_objects import server_args_with_defaults

from sglang.srt.model_executor.forward_batch_info import CaptureHiddenMode, ForwardBatch, ForwardMode
from sglang.srt.model_executor.runner.base_cuda_graph_runner import get_batch_sizes_to_capture
from sglang.srt.model_executor.runner.decode_cuda_graph_runner import DecodeCudaGraphRunner
from sglang.srt.model_executor.runner_backend.utils import resolve_decode_backend
from sglang.srt.speculative.eagle_draft_cuda_graph_runner import EAGLEDraftCudaGraphRunner
from sglang.srt.speculative.eagle_draft_extend_cuda_graph_runner import EAGLEDraftExtendCudaGraphRunner
from sglang.srt.speculative import multi_layer_eagle_draft_extend_cuda_graph_runner as multi_layer
from sglang.srt.utils import require_gathered_buffer, require_mlp_sync, require_mlp_tp_gather

CAPTURE_BS, BATCHES, POOL_SIZE, TOPK, STEPS = [1, 2, 4, 8], range(1, 11), 16, 1, 3
DSA_INDEX_TOPK = 64  # above the batches' 30 tokens: the dense DSA graph is picked


def load_by_path(name, relpath):
    path = Path(__file__).resolve().parent.parent / relpath
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class StandInCudaGraph:
    """Stand-in for ``torch.cuda.CUDAGraph``: remembers which size it was captured for."""

    def __init__(self, *args, **kwargs):
        self.size, self.replays = None, 0

    def replay(self):
        self.replays += 1


@contextlib.contextmanager
def StandInCudaGraphs():
    """Stand-ins for the CUDA graph API the real backend calls (no CUDA on CPU)."""
    saved = {name: getattr(torch.cuda, name) for name in ("CUDAGraph", "graph", "graph_pool_handle", "synchronize")}
    torch.cuda.CUDAGraph = StandInCudaGraph
    torch.cuda.graph = lambda cuda_graph=None, pool=None, stream=None, **kw: contextlib.nullcontext()
    torch.cuda.graph_pool_handle = lambda: "graph pool (stand-in)"
    torch.cuda.synchronize = lambda *args, **kwargs: None
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(torch.cuda, name, value)


def server_args(disable_padding):
    from sglang.srt.model_executor.cuda_graph_config import default_cuda_graph_config

    args = server_args_with_defaults(speculative_algorithm="EAGLE", speculative_eagle_topk=TOPK,
                                     speculative_num_steps=STEPS, speculative_num_draft_tokens=STEPS + 1,
                                     disable_cuda_graph_padding=disable_padding)
    args.cuda_graph_config = default_cuda_graph_config()
    args.cuda_graph_config.decode.bs = list(CAPTURE_BS)
    return args


def publish_args(args):
    """From 0.5.18 a scheduler process publishes its ServerArgs for the helpers to read."""
    from sglang.srt import runtime_context

    if hasattr(runtime_context, "publish"):
        runtime_context.publish(args, role="scheduler")


def model_runner(args):
    return types.SimpleNamespace(
        server_args=args, device="cuda", gpu_id=0, tp_size=1, dp_size=1,
        tp_group=types.SimpleNamespace(barrier=lambda: None),
        req_to_token_pool=types.SimpleNamespace(size=POOL_SIZE),
        spec_algorithm=types.SimpleNamespace(is_eagle=lambda: True, is_standalone=lambda: False,
                                             is_dflash=lambda: False, is_ngram=lambda: False),
    )


def runner_without_init(cls, runner_model, record_nolora_graph=False, dsa_dual_graph=False):
    """The real runner class with its GPU-only ``__init__`` skipped: the fields its
    ``can_run_graph`` and the capture loop read, derived as ``__init__`` derives them
    (``dsa_dual_graph``: 0.5.18 and 0.5.19 turn it on for DeepSeek DSA models on ROCm)."""
    runner = object.__new__(cls)
    args = runner_model.server_args
    runner.model_runner, runner.device = runner_model, runner_model.device
    runner.device_module = torch.get_device_module(runner.device)
    runner.disable_padding = args.disable_cuda_graph_padding
    for helper in (require_gathered_buffer, require_mlp_tp_gather, require_mlp_sync):
        # they take the ServerArgs up to 0.5.17, later read the published ones (publish_args)
        setattr(runner, helper.__name__, helper(args) if helper.__code__.co_argcount else helper())
    runner.enable_pdmux, runner.record_nolora_graph = False, record_nolora_graph
    runner.dsa_dual_graph, runner.dsa_index_topk = dsa_dual_graph, DSA_INDEX_TOPK
    runner.enable_two_batch_overlap, runner.is_encoder_decoder = False, False
    runner.capture_hidden_mode = CaptureHiddenMode.NULL
    runner.num_tokens_per_bs = runner.captured_req_width = TOPK
    runner.ragged_verify_mode = False  # 0.5.16 and later read these two
    runner.capture_bs, _ = get_batch_sizes_to_capture(runner_model)
    runner.max_bs = max(runner.capture_bs)
    runner.backend = resolve_decode_backend(runner)
    capture(runner)
    return runner


def capture(runner):
    """Stand-in capture loop: the graph store as ``_capture_one_stream`` fills it."""
    variants = ["lora", "nolora"] if runner.record_nolora_graph else [None]
    dsa_variants = ["dense", "sparse"] if runner.dsa_dual_graph else [None]
    with runner.backend.capture_session(stream=None):
        for bs in reversed(runner.capture_bs):
            for variant, dsa_variant in [(v, d) for v in variants for d in dsa_variants]:
                key = runner._make_graph_key(bs, None, variant, *([dsa_variant] if dsa_variant else []))
                runner.backend.capture_one(key, lambda bs=bs: f"output of the size-{bs} graph (stand-in)")
                runner.backend._graphs[key].size = bs


def batch(raw_bs):
    seq_lens = torch.full((raw_bs,), 30, dtype=torch.int64)
    fb = ForwardBatch(
        forward_mode=ForwardMode.DECODE, batch_size=raw_bs, input_ids=torch.zeros(raw_bs * TOPK, dtype=torch.int64),
        req_pool_indices=torch.arange(raw_bs), seq_lens=seq_lens, out_cache_loc=torch.zeros(raw_bs, dtype=torch.int64),
        seq_lens_sum=int(seq_lens.sum()), positions=seq_lens.clone(),
    )
    fb.capture_hidden_mode = CaptureHiddenMode.NULL
    fb.lora_ids = [None] * raw_bs
    return fb


def decide(name, runner, lookup, raw_bs):
    """What the runner does with a batch of raw_bs requests: eager, or the graph it replays."""
    fb = batch(raw_bs)
    line = {"runner": name, "raw": raw_bs, "graph": bool(lookup.can_run_graph(fb)),
            "padding": not runner.disable_padding}
    if line["graph"]:
        bs = runner._pad_to_bucket(raw_bs, runner.capture_bs)
        dsa_variant = [runner._resolve_dsa_variant(fb)] if runner.dsa_dual_graph else []
        key = runner._make_graph_key(bs, None, runner._resolve_lora_variant(fb), *dsa_variant)  # as replay builds it
        runner.backend.replay(key, fb)
        line.update(bs=bs, replayed=runner.backend._graphs[key].size)
    return line


def main():
    buffers = load_by_path("draft_padding_buffers_reproduce", "draft-padding-buffers/reproduce.py")
    buffers.single_rank_parallel_state()
    with StandInCudaGraphs():
        for disable_padding in (True, False):
            runner_model = model_runner(server_args(disable_padding))
            publish_args(runner_model.server_args)
            runners = {  # name: (class, which extra graph variants it records)
                "target": (DecodeCudaGraphRunner, None),
                "target-lora": (DecodeCudaGraphRunner, "lora"),
                "draft": (EAGLEDraftCudaGraphRunner, None),
                "draft-extend": (EAGLEDraftExtendCudaGraphRunner, None),
                "multi-layer-draft-extend": (multi_layer.MultiLayerEagleDraftExtendCudaGraphRunner, None),
            }
            if hasattr(DecodeCudaGraphRunner, "_resolve_dsa_variant"):  # 0.5.18, 0.5.19
                runners["target-dsa"] = (DecodeCudaGraphRunner, "dsa")
            for name, (cls, variants) in runners.items():
                runner = runner_without_init(cls, runner_model, record_nolora_graph=variants == "lora",
                                             dsa_dual_graph=variants == "dsa")
                lookup = runner
                if name == "multi-layer-draft-extend":  # the worker asks the multi-step wrapper
                    lookup = object.__new__(multi_layer.MultiLayerEagleMultiStepDraftExtendCudaGraphRunner)
                    lookup.runners = [runner]
                for raw_bs in BATCHES:
                    print(json.dumps(decide(name, runner, lookup, raw_bs)), flush=True)


if __name__ == "__main__":
    main()
