"""The per-step selection is written into the CUDA-graph refill and the eager path, but under
`if False:` (left from a debugging session): the whole draft out_cache_loc still reaches the
bs x topk buffer and the pool."""

FIX = "fa3-swa-draft-step-loc"
RELEASE = "0.5.13.post1"
EDITS = [
    ("sglang/srt/layers/attention/flashattention_backend.py",
     """            if forward_batch.out_cache_loc is not None:
                metadata.swa_out_cache_loc = (
                    self.token_to_kv_pool.translate_loc_from_full_to_swa(
                        forward_batch.out_cache_loc
                    )
                )
""",
     """            if forward_batch.out_cache_loc is not None:
                swa_write_loc = forward_batch.out_cache_loc
                if False:
                    swa_write_loc = swa_write_loc.view(
                        -1, self.topk, self.speculative_num_steps
                    )[:, :, self.speculative_step_id].reshape(-1)
                metadata.swa_out_cache_loc = (
                    self.token_to_kv_pool.translate_loc_from_full_to_swa(
                        swa_write_loc
                    )
                )
"""),
    ("sglang/srt/layers/attention/flashattention_backend.py",
     """        if self.use_sliding_window_kv_pool and out_cache_loc is not None:
            n = out_cache_loc.shape[0]
            self.swa_out_cache_loc_buf[n:].zero_()
            self.swa_out_cache_loc_buf[:n].copy_(
                self.token_to_kv_pool.translate_loc_from_full_to_swa(out_cache_loc)
            )
""",
     """        if self.use_sliding_window_kv_pool and out_cache_loc is not None:
            swa_write_loc = out_cache_loc
            if False:
                swa_write_loc = out_cache_loc.view(
                    -1, self.topk, self.speculative_num_steps
                )[:, :, self.speculative_step_id].reshape(-1)
            n = swa_write_loc.shape[0]
            self.swa_out_cache_loc_buf[n:].zero_()
            self.swa_out_cache_loc_buf[:n].copy_(
                self.token_to_kv_pool.translate_loc_from_full_to_swa(swa_write_loc)
            )
"""),
]
