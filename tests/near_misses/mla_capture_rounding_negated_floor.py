"""The capture list's rounding of the request pool written as a negated floor division,
`-(-n // mul_base) * mul_base`: the pool rounded up all the same."""

FIX = "draft-mla-kv-indptr-capture-bs"
RELEASE = "0.5.16"
EDITS = [(
    "sglang/srt/model_executor/runner/base_cuda_graph_runner.py",
    "    num_max_requests = (num_max_requests + mul_base - 1) // mul_base * mul_base\n",
    "    num_max_requests = -(-num_max_requests // mul_base) * mul_base\n",
)]
