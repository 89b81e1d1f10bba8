"""Tiny Llama target and EAGLE draft, written as local config.json files.

With ``load_format="dummy"`` SGLang builds the models from these configs with random
weights and ``skip_tokenizer_init=True`` lets it run without a tokenizer: nothing is
downloaded. The sizes suit FlashInfer's kernels (head_dim 128, one KV head per query
head) and keep CUDA-graph capture fast.
"""

from __future__ import annotations

import json
from pathlib import Path

VOCAB_SIZE = 32000

_COMMON = {
    "model_type": "llama",
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "head_dim": 128,
    "hidden_act": "silu",
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "vocab_size": VOCAB_SIZE,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
}


def target_config(max_position_embeddings: int = 2048) -> dict:
    return {**_COMMON, "architectures": ["LlamaForCausalLM"], "num_hidden_layers": 2,
            "max_position_embeddings": max_position_embeddings}


def draft_config(max_position_embeddings: int = 2048) -> dict:
    # SGLang's EAGLE head for Llama: one decoder layer plus the fc that mixes in the
    # target's hidden state; embed_tokens and lm_head come from the target.
    return {**_COMMON, "architectures": ["LlamaForCausalLMEagle"], "num_hidden_layers": 1,
            "max_position_embeddings": max_position_embeddings}


def write_models(folder: Path, target_max_pos: int = 2048, draft_max_pos: int = 2048) -> tuple[Path, Path]:
    """Write ``folder/target/config.json`` and ``folder/draft/config.json``; return both dirs."""
    dirs = []
    for name, config in (("target", target_config(target_max_pos)), ("draft", draft_config(draft_max_pos))):
        path = Path(folder) / name
        path.mkdir(parents=True, exist_ok=True)
        (path / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        dirs.append(path)
    return dirs[0], dirs[1]
