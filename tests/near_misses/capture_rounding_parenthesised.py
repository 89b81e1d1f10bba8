"""The capture list's rounding of the request pool written with extra parentheses,
`((n + mul_base - 1) // mul_base) * mul_base`: the same amount, so the draft graph is
still captured above the pool. A regex precondition read it as "no rounding" and called
the tree unaffected."""

FIX = "draft-kv-indptr-capture-bs"
RELEASE = "0.5.13.post1"
EDITS = [(
    "sglang/srt/model_executor/cuda_graph_runner.py",
    "    num_max_requests = (num_max_requests + mul_base - 1) // mul_base * mul_base\n",
    "    num_max_requests = ((num_max_requests + mul_base - 1) // mul_base) * mul_base\n",
)]
