"""ngram-verify-mask holds when ``NgramVerifyInput.generate_attn_arg_prefill`` returns a
tree mask as long as FlashInfer reads for the padded batch, proven in numbers: on every
path, the mask it returns (the last element of the returned tuple: what the backend
hands FlashInfer) is at least ``paged_kernel_lens_sum * D + D * D * bs`` booleans for a
grid of draft-token counts ``D``, padded batch sizes ``bs = len(req_pool_indices)`` and
real batch sizes the mask was built for (``astcheck.returns_full_verify_mask``). Grown
in place on ``self.custom_mask`` or in a copy, by ``torch.cat``, ``new_ones``,
``torch.full`` or ``F.pad``, under any branch that holds when the mask is short.

Read by the engine only (stdlib, no SGLang import): ``check(read) -> str | None``.
"""

import ast

from sglang_spec_patches.astcheck import method, returns_full_verify_mask

FILES = ("sglang/srt/speculative/ngram_info.py", "sglang/srt/speculative/ngram_utils.py")


def check(read):
    for file in FILES:
        text = read(file)
        if not text or "NgramVerifyInput" not in text:
            continue
        fn = method(ast.parse(text), "NgramVerifyInput", ("generate_attn_arg_prefill",))
        if fn is not None and returns_full_verify_mask(fn):
            return (f"{file.rsplit('/', 1)[1]} generate_attn_arg_prefill() returns a tree mask of at least "
                    "paged_kernel_lens_sum * D + D * D * len(req_pool_indices) booleans (padded requests included)")
    return None
