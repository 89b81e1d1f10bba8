"""Upstream's 0.5.14 .. 0.5.23 sizing (`get_cuda_graph_max_batch_size(pool * topk)`: pool
times topk rounded up) in an editable build whose version says nothing: it changed the
line a fixed release would change, but for topk > 1 the row is short of the pool rounded
up times topk (pool 5, alignment 2, topk 2: 11 entries for 13)."""

FIX = "draft-kv-indptr-capture-bs"
RELEASE = "0.5.23"
VERSION = "0.0.0.dev1+g0123abc"
EDITS = []
