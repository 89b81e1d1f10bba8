"""Both the eager path and the CUDA-graph refill take one step's column of the draft
out_cache_loc, but always step 0's: the buffer now fits, yet every later draft step writes
its KV over step 0's and reads a slot nobody wrote."""

FIX = "fa3-swa-draft-step-loc"
RELEASE = "0.5.16"
EDITS = [
    ("sglang/srt/layers/attention/flashattention_backend.py",
     """                        forward_batch.out_cache_loc
                    )
                )
""",
     """                        forward_batch.out_cache_loc.view(
                            -1, self.topk, self.speculative_num_steps
                        )[:, :, 0].reshape(-1)
                    )
                )
"""),
    ("sglang/srt/layers/attention/flashattention_backend.py",
     """        if self.use_sliding_window_kv_pool and out_cache_loc is not None:
            n = out_cache_loc.shape[0]
""",
     """        if self.use_sliding_window_kv_pool and out_cache_loc is not None:
            if spec_info is not None and self.speculative_num_steps > 1:
                out_cache_loc = out_cache_loc.view(
                    -1, self.topk, self.speculative_num_steps
                )[:, :, 0].reshape(-1)
            n = out_cache_loc.shape[0]
"""),
]
