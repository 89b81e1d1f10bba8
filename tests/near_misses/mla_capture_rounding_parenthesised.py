"""The capture list's rounding of the request pool (0.5.14 .. 0.5.16 keep it in
runner/base_cuda_graph_runner.py) written with extra parentheses: the same amount, so the
MLA draft graph is still captured above the pool."""

FIX = "draft-mla-kv-indptr-capture-bs"
RELEASE = "0.5.16"
EDITS = [(
    "sglang/srt/model_executor/runner/base_cuda_graph_runner.py",
    "    num_max_requests = (num_max_requests + mul_base - 1) // mul_base * mul_base\n",
    "    num_max_requests = ((num_max_requests + mul_base - 1) // mul_base) * mul_base\n",
)]
