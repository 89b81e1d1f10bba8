"""The capture list's rounding of the request pool written as a negated floor division,
`-(-n // mul_base) * mul_base`: the same amount (the pool rounded up), so the draft graph
is still captured above the pool."""

FIX = "draft-kv-indptr-capture-bs"
RELEASE = "0.5.13.post1"
EDITS = [(
    "sglang/srt/model_executor/cuda_graph_runner.py",
    "    num_max_requests = (num_max_requests + mul_base - 1) // mul_base * mul_base\n",
    "    num_max_requests = -(-num_max_requests // mul_base) * mul_base\n",
)]
