"""FlashInfer MLA draft on an editable build (`0.0.0.dev1+g...`, so the version says
nothing): upstream's 0.5.20 sizing line (the marker) is there for kv_indptr, but
q_indptr_decode - the step backends' qo_indptr - is sized for the request pool again, so
FlashInfer's plan gets a qo_indptr one entry short for a graph captured above the pool.
The marker alone must not make it read fixed."""

FIX = "draft-mla-kv-indptr-capture-bs"
RELEASE = "0.5.23"
VERSION = "0.0.0.dev1+g0123abc"
EDITS = [
    ("sglang/srt/layers/attention/flashinfer_mla_backend.py",
     "        self.q_indptr_decode = torch.arange(\n"
     "            0, max_bs + 1, dtype=torch.int32, device=model_runner.device\n"
     "        )\n\n",
     "        self.q_indptr_decode = torch.arange(\n"
     "            0,\n"
     "            model_runner.req_to_token_pool.size * self.topk + 1,\n"
     "            dtype=torch.int32,\n"
     "            device=model_runner.device,\n"
     "        )\n\n"),
]
