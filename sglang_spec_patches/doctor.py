"""``sglang-spec-patches doctor``: which crash risks remain for *these* flags on *this* SGLang.

It reads SGLang server flags (SGLang style ``--attention-backend`` or slime style
``--sglang-attention-backend``), or the server args of a running SGLang, plans the fixes
for the installed SGLang, and says in plain words what is still exposed. Every finding
names the fix or the flag that removes it. Exit code 1 when a risk is unmitigated.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from . import engine, runtime

# Fix states under which a fix's bug is gone on this install.
_SAFE = (engine.ALREADY_FIXED, engine.NOT_APPLICABLE)


@dataclass
class Finding:
    risk: bool  # False: information only
    fix: str | None
    message: str
    remedy: str

    def as_dict(self) -> dict:
        return {"risk": self.risk, "fix": self.fix, "message": self.message, "remedy": self.remedy}


def _int_list(text: str) -> list[int]:
    return [int(x) for x in text.replace(",", " ").split()]


def parse_flags(argv: list[str]) -> dict:
    """The server flags that matter here; everything else is ignored."""
    norm = []
    for arg in argv:
        if arg.startswith("--sglang-"):
            arg = "--" + arg[len("--sglang-"):]
        norm.append(arg)
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--speculative-algorithm")
    p.add_argument("--speculative-eagle-topk", type=int)
    p.add_argument("--speculative-num-steps", type=int)
    p.add_argument("--speculative-num-draft-tokens", type=int)
    p.add_argument("--speculative-draft-model-path")
    p.add_argument("--model-path")
    p.add_argument("--attention-backend")
    p.add_argument("--cuda-graph-bs", nargs="+")
    p.add_argument("--cuda-graph-max-bs", type=int)
    p.add_argument("--context-length", type=int)
    p.add_argument("--disable-cuda-graph", action="store_true")
    p.add_argument("--disable-cuda-graph-padding", action="store_true")
    p.add_argument("--enable-dp-attention", action="store_true")
    p.add_argument("--enable-two-batch-overlap", action="store_true")
    p.add_argument("--max-running-requests", type=int)
    p.add_argument("--speculative-draft-attention-backend")
    args, _unknown = p.parse_known_args(norm)
    flags = vars(args)
    if flags["cuda_graph_bs"]:
        flags["cuda_graph_bs"] = _int_list(" ".join(flags["cuda_graph_bs"]))
    return flags


def server_flags(url: str) -> dict:
    """Server args of a running SGLang (``/get_server_info``)."""
    with urllib.request.urlopen(url.rstrip("/") + "/get_server_info", timeout=10) as resp:
        info = json.load(resp)
    keys = parse_flags([]).keys()
    return {k: info.get(k) for k in keys}


def _draft_context(path: str | None) -> int | None:
    if not path or not Path(path, "config.json").is_file():
        return None
    cfg = json.loads(Path(path, "config.json").read_text())
    text_cfg = cfg.get("text_config", cfg)
    return text_cfg.get("max_position_embeddings")


def _draft_uses_mla(flags: dict) -> bool | None:
    """Whether the draft runs on SGLang's MLA attention backends: DeepSeek-style MLA models
    declare ``kv_lora_rank`` in their config. Without a draft path (MTP) the draft layers
    come with the target. None when the config cannot be read."""
    path = flags.get("speculative_draft_model_path") or flags.get("model_path")
    if not path or not Path(path, "config.json").is_file():
        return None
    cfg = json.loads(Path(path, "config.json").read_text())
    return cfg.get("text_config", cfg).get("kv_lora_rank") is not None


def _draft_uses_sliding_window(flags: dict) -> bool | None:
    """Whether the draft's KV pool has sliding-window layers: its config lists
    ``sliding_attention`` layer types or a hybrid layer pattern (gpt-oss, Gemma 4,
    MiMo-V2, Step3.5 ...). Without a draft path (MTP) the draft layers come with the
    target. None when the config cannot be read."""
    path = flags.get("speculative_draft_model_path") or flags.get("model_path")
    if not path or not Path(path, "config.json").is_file():
        return None
    cfg = json.loads(Path(path, "config.json").read_text())
    text = cfg.get("text_config", cfg)
    return "sliding_attention" in (text.get("layer_types") or []) or bool(text.get("hybrid_layer_pattern"))


# Config keys of models whose layers SGLang serves with its linear-attention backends
# (GDN: Qwen3-Next, Qwen3.5; KDA: Kimi-Linear; Mamba2 hybrids).
_LINEAR_ATTENTION_KEYS = ("linear_conv_kernel_dim", "linear_attn_config", "hybrid_override_pattern",
                          "mamba_d_state", "ssm_state_size")


def _linear_attention_model(flags: dict) -> bool:
    """Whether the target model's config declares linear-attention or Mamba layers."""
    path = flags.get("model_path")
    if not path or not Path(path, "config.json").is_file():
        return False
    cfg = json.loads(Path(path, "config.json").read_text())
    cfg = cfg.get("text_config", cfg)
    layers = " ".join(str(t) for t in cfg.get("layer_types") or [])
    return any(k in cfg for k in _LINEAR_ATTENTION_KEYS) or "linear" in layers or "mamba" in layers


_ALLOW_STRETCH_ENV = "SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN"


def _context_stretch_refused(draft_ctx: int, target_ctx: int, plan: engine.Plan,
                             settings: runtime.Settings) -> Finding | None:
    """Say when this SGLang will stop at start-up because the draft is shorter than the
    target: not a crash risk, but users should know why and what to set. Up to 0.5.0rc2
    the variable defaults to true (the source names ``default="True"``; draft-context-length
    keeps that unless the shim runs in strict mode); from 0.5.1 it defaults to false."""
    text = engine.SourceTree(plan.root).text_or_empty("sglang/srt/configs/model_config.py")
    value = os.environ.get(_ALLOW_STRETCH_ENV)
    # as the release reads it: get_bool_env_var up to 0.5.3rc0, the envs registry after
    truthy = ("1", "true", "yes", "y") if f"envs.{_ALLOW_STRETCH_ENV}" in text else ("1", "true")
    allowed = value is not None and value.lower() in truthy
    if allowed or _ALLOW_STRETCH_ENV not in text:
        return None
    defaults_true = re.search(rf'"{_ALLOW_STRETCH_ENV}",\s*default=[^)]*"True"', text) is not None
    fix = plan.decision("draft-context-length")
    strict_refuses = (defaults_true and settings.mode == "strict" and fix is not None
                      and fix.state in (engine.APPLIES, engine.ALREADY_FIXED))
    if value is None and defaults_true and not strict_refuses:
        return None
    if value is not None:
        why = f"{_ALLOW_STRETCH_ENV}={value} here"
    elif strict_refuses:
        why = "SGLANG_SPEC_PATCHES=strict makes stretching a draft opt-in"
    else:
        why = (f"from 0.5.1 SGLang refuses a longer context unless {_ALLOW_STRETCH_ENV} is set "
               "(draft-context-length keeps that)")
    return Finding(
        False, "draft-context-length",
        f"start-up will stop: ModelConfig raises ValueError for the draft (context {draft_ctx}) "
        f"stretched to the target's {target_ctx}: {why}",
        f"set {_ALLOW_STRETCH_ENV}=1 to run the draft at the target's context (outputs stay lossless, "
        f"acceptance may drop past {draft_ctx}; the draft's rotary cache is raised with the fix applied "
        f"or from 0.5.3rc2), or --context-length {draft_ctx}")


def _pads(flags: dict) -> str | None:
    """Why the CUDA-graph runners will pad batches, or None if they never do."""
    if flags["disable_cuda_graph"]:
        return None
    if flags["enable_dp_attention"]:
        return "DP attention pads the local batch to the global maximum"
    bs = flags["cuda_graph_bs"]
    if bs:
        top = max(bs)
        missing = sorted(set(range(1, top + 1)) - set(bs))
        if missing:
            return f"--cuda-graph-bs {' '.join(map(str, bs))} leaves sizes such as {missing[:5]} to pad"
        return "the draft-extend runner pads the token dimension as accepted lengths vary"
    if flags["disable_cuda_graph_padding"]:
        return "the draft-extend runner pads the token dimension as accepted lengths vary"
    return "the default capture list is sparse (e.g. 9, 11, 13 pad up)"


def _verify_pads(flags: dict) -> str | None:
    """Why the target runner pads verify batches, or None: as _pads, but the draft-extend
    runner's token padding does not count (n-gram has no draft model)."""
    bs = flags["cuda_graph_bs"] or []
    missing = bs and set(range(1, max(bs) + 1)) - set(bs)
    if flags["enable_dp_attention"] or missing or not (bs or flags["disable_cuda_graph_padding"]):
        return _pads(flags)
    return None


def diagnose(flags: dict, plan: engine.Plan, settings: runtime.Settings, activation: dict) -> list[Finding]:
    states = {d.fix: d.state for d in plan.decisions}
    findings: list[Finding] = []
    spec = (flags.get("speculative_algorithm") or "").upper()
    if not spec:
        findings.append(Finding(False, None, "no speculative decoding: none of these bugs can trigger", "-"))
        return findings

    def covered(fix_id: str) -> bool:
        state = states.get(fix_id)
        if state in _SAFE:
            return True
        return state == engine.APPLIES and settings.mode != "off" and bool(activation.get("reaches_workers"))

    carried = {d.fix: d.recognised for d in plan.decisions if d.recognised}

    def risk(fix_id: str, message: str, flag_remedy: str) -> None:
        if covered(fix_id):
            if fix_id in carried:  # safe without us: say what in the tree makes it so
                findings.append(Finding(False, fix_id, f"{message} [fix {fix_id}: carried by the tree: "
                                                       f"{carried[fix_id]}]", "-"))
            return
        state = states.get(fix_id, "unknown")
        if state == engine.DISABLED:
            how = f"remove {fix_id} from SGLANG_SPEC_PATCHES_DISABLE"
        elif state == engine.DECLINED:
            how = f"fix {fix_id} was declined (unrecognised SGLang code); {flag_remedy}"
        elif settings.mode == "off":
            how = "unset SGLANG_SPEC_PATCHES=off"
        elif state == engine.APPLIES:
            how = "install the wheel into the image's site-packages so its .pth runs in every process"
        else:
            how = flag_remedy
        findings.append(Finding(True, fix_id, f"{message} [fix {fix_id}: {state}]", how))

    backend = (flags.get("attention_backend") or "").lower()
    flashinfer = backend in ("", "flashinfer")  # unset: FlashInfer is a common default
    on = " (attention backend unset: may be FlashInfer)" if not backend else ""
    topk = flags.get("speculative_eagle_topk") or 1
    pads = _pads(flags)
    # n-gram has no draft model: the EAGLE draft runners and EagleVerifyInput never run.
    eagle = spec != "NGRAM"

    if eagle and pads and flashinfer:
        risk("draft-padding-positions",
             f"draft CUDA-graph padding with FlashInfer{on}: {pads}; stale positions grow kv_indptr (#9888, #9521)",
             "use --attention-backend fa3/triton, or --disable-cuda-graph")
        risk("verify-mask-padding",
             f"verify CUDA-graph padding with FlashInfer{on}: the tree mask is shorter than FlashInfer reads (#9481)",
             "use --attention-backend fa3/triton, or --disable-cuda-graph")
    verify_pads = _verify_pads(flags)
    if spec == "NGRAM" and verify_pads and flashinfer:
        risk("ngram-verify-mask",
             f"n-gram verify CUDA-graph padding with FlashInfer{on}: {verify_pads}; "
             "the tree mask is shorter than FlashInfer reads (#24361)",
             "use --attention-backend fa3/triton, list every batch size in --cuda-graph-bs, or --disable-cuda-graph")
    if eagle and pads:
        risk("draft-padding-buffers",
             f"padded draft slots keep stale topk_p/topk_index/hidden_states ({pads})",
             "--disable-cuda-graph")
    # The multi-step draft backends that slice (and from 0.5.13 check) kv_indices by seq_lens_sum.
    sum_backend = flashinfer or backend in ("triton", "aiter", "trtllm_mla")
    if spec != "NGRAM" and verify_pads and sum_backend:
        risk("draft-seq-lens-sum",
             f"draft CUDA-graph padding with {backend or 'FlashInfer'}{on}: {verify_pads}; kv_indices are "
             "sliced and checked for the raw seq_lens_sum while the kernel writes the padded batch (PR #26880)",
             "list every batch size in --cuda-graph-bs, or --disable-cuda-graph")
    if eagle and topk > 1 and flashinfer and not flags["disable_cuda_graph"]:
        risk("draft-kv-indices-topk",
             f"--speculative-eagle-topk {topk} with FlashInfer{on}: the draft kv_indices CUDA-graph buffer "
             "lacks the topk factor and the kernel writes past it",
             "--speculative-eagle-topk 1, or another attention backend")
    # Two-batch overlap (x2) and DP attention (x attention TP size) round the request pool
    # up for the captured sizes; the FlashInfer, Triton and aiter draft kv_indptr were sized
    # for the pool only (FlashMLA's is never written on the draft decode path).
    draft_backend = (flags.get("speculative_draft_attention_backend") or backend).lower()
    aligned = flags["enable_two_batch_overlap"] or flags["enable_dp_attention"]
    pool = flags.get("max_running_requests")
    if flags["enable_two_batch_overlap"] and not flags["enable_dp_attention"] and pool and pool % 2 == 0:
        aligned = False  # an even pool is already aligned for two-batch overlap

    def above_the_pool(which: str, sized: str = "the pool") -> str:
        return ("two-batch overlap or DP attention: the draft CUDA graph can be captured for the request pool "
                f"rounded up, past the {which} draft kv_indptr sized for {sized}; the kernel writes past its rows")

    remedy = ("a --max-running-requests (per DP rank) that is a multiple of the alignment, "
              "or --cuda-graph-max-bs no larger than it")
    if spec != "NGRAM" and aligned and not flags["disable_cuda_graph"]:
        if draft_backend == "triton":
            risk("draft-triton-kv-indptr-capture-bs", above_the_pool("Triton"), remedy)
        elif draft_backend == "aiter":  # same sizing and kernel; no fix here (ROCm only)
            findings.append(Finding(True, None, above_the_pool("aiter") + " (open upstream as of 0.5.23; "
                                    "not fixed by this package)", remedy))
    if spec != "NGRAM" and draft_backend in ("", "flashinfer") and aligned and not flags["disable_cuda_graph"]:
        # An MLA draft model gets the FlashInfer MLA draft backend, sized the same way; a
        # draft whose config cannot be read may be either.
        mla = _draft_uses_mla(flags)
        # From 0.5.14 upstream rounds pool * topk up instead of the pool: short only for topk > 1.
        kv = plan.decision("draft-kv-indptr-capture-bs")
        pool_times_topk = kv is not None and kv.family not in (None, "0.4.10")
        if mla is not True and not (pool_times_topk and topk == 1):
            sized = f"pool * topk rounded up (--speculative-eagle-topk {topk})" if pool_times_topk else "the pool"
            risk("draft-kv-indptr-capture-bs", above_the_pool("FlashInfer", sized), remedy)
        if mla is not False:
            risk("draft-mla-kv-indptr-capture-bs", above_the_pool("FlashInfer MLA"), remedy)
    steps = flags.get("speculative_num_steps") or 0
    if eagle and draft_backend in ("fa3", "fa4") and steps > 1 and _draft_uses_sliding_window(flags) is not False:
        may = "" if _draft_uses_sliding_window(flags) else " (draft config unread: if its KV pool has sliding-window layers)"
        risk("fa3-swa-draft-step-loc",
             f"{draft_backend.upper()} draft with a sliding-window KV pool and {steps} steps{may}: every step writes its KV through "
             "the first bs*topk slots of the whole draft allocation; the CUDA-graph capture fails (0.5.13 .. 0.5.18)",
             "--speculative-num-steps 1, or another --speculative-draft-attention-backend")
    if _linear_attention_model(flags) and not flags["disable_cuda_graph"]:
        risk("linear-attn-verify-padding",
             "linear-attention model with verify CUDA graphs: a request as long as the fill value (a "
             "one-token prompt) is counted as padding and the batch's last real request skips the "
             "linear-attention layers (wrong output)",
             "--disable-cuda-graph")
    if flags["disable_cuda_graph_padding"]:
        risk("spec-disable-padding",
             "--disable-cuda-graph-padding with speculative decoding keeps the sparse capture list: "
             "uncaptured batch sizes run without CUDA graphs",
             "list every batch size in --cuda-graph-bs")
    if flags["disable_cuda_graph_padding"] and not flags["disable_cuda_graph"]:
        risk("disable-padding-graph-key",
             "--disable-cuda-graph-padding: the CUDA-graph runners look graphs up under another key than they "
             "stored them with (0.5.14 - 0.5.15.post1: the bare batch size; 0.5.18 - 0.5.19: without the DSA "
             "variant, DeepSeek DSA models on ROCm), so every batch runs eagerly, captured sizes included "
             "(a large slowdown: TPOT 13.2 -> 5.4 ms once fixed, PR #31273)",
             "drop --disable-cuda-graph-padding (batches then pad to a captured size and replay)")
    draft_ctx = _draft_context(flags.get("speculative_draft_model_path"))
    target_ctx = flags.get("context_length") or _draft_context(flags.get("model_path"))
    if draft_ctx and target_ctx and draft_ctx < target_ctx:
        risk("draft-context-length",
             f"draft model context {draft_ctx} is shorter than the target's {target_ctx}: "
             "its rotary cache is overrun",
             f"--context-length {draft_ctx}")
        note = _context_stretch_refused(draft_ctx, target_ctx, plan, settings)
        if note:
            findings.append(note)
    for d in plan.decisions:
        if d.state == engine.DISABLED and not any(f.fix == d.fix for f in findings):
            findings.append(Finding(False, d.fix, f"fix {d.fix} is disabled", f"remove it from SGLANG_SPEC_PATCHES_DISABLE"))
    if not activation.get("reaches_workers"):
        findings.append(Finding(
            any(f.risk for f in findings) or any(s == engine.APPLIES for s in states.values()), None,
            f"the hook cannot reach SGLang's spawned schedulers here: {activation.get('why')}",
            "pip install the wheel into the image (its .pth runs in every process)"))
    if not findings:
        findings.append(Finding(False, None, "no remaining risk found for these flags", "-"))
    return findings


def activation_state(tree: engine.SourceTree, pth_dirs: list[str]) -> dict:
    plugin = "sglang.srt.plugins" in tree.text_or_empty("sglang/srt/plugins/__init__.py")
    if pth_dirs:
        return {"reaches_workers": True, "why": ".pth installed", "plugin": plugin}
    if plugin:
        return {"reaches_workers": True, "why": "no .pth; the sglang.srt.plugins entry point is loaded by "
                "the engine and scheduler processes", "plugin": plugin}
    return {"reaches_workers": False, "plugin": plugin,
            "why": "no sglang_spec_patches.pth in site-packages and this release has no plugin support "
                   "(< 0.5.11), so only processes that import sglang_spec_patches themselves are fixed"}


def format_findings(findings: list[Finding]) -> str:
    lines = []
    for f in findings:
        tag = "RISK" if f.risk else "ok  " if f.fix is None and f.remedy == "-" else "note"
        lines.append(f"{tag}  {f.message}")
        if f.remedy != "-":
            lines.append(f"      -> {f.remedy}")
    return "\n".join(lines)
