"""The eager path writes each draft step through its own slots, but the CUDA-graph refill
still copies the whole bs x topk x steps draft out_cache_loc into the bs x topk buffer: the
capture of the largest batch still fails, and a replay still writes every step through the
first bs x topk slots."""

FIX = "fa3-swa-draft-step-loc"
RELEASE = "0.5.15.post1"
EDITS = [(
    "sglang/srt/layers/attention/flashattention_backend.py",
    """                    self.token_to_kv_pool.translate_loc_from_full_to_swa(
                        forward_batch.out_cache_loc
                    )
""",
    """                    self.token_to_kv_pool.translate_loc_from_full_to_swa(
                        forward_batch.out_cache_loc.view(
                            -1, self.topk, self.speculative_num_steps
                        )[:, :, self.speculative_step_id].reshape(-1)
                        if forward_batch.spec_info is not None
                        and self.speculative_num_steps > 1
                        else forward_batch.out_cache_loc
                    )
""",
)]
