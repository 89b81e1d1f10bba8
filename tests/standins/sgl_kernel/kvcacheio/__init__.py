"""Stand-in for the GPU-only package sgl_kernel (dev)."""
def _s(*a, **k):
    raise NotImplementedError("stand-in")
transfer_kv_per_layer = _s
transfer_kv_per_layer_mla = _s
