"""Stand-in for ``sgl_kernel.kvcacheio`` (see the ``sgl_kernel`` stand-in): the KV-cache
host/device copy kernels that SGLang's memory pools import at module level."""

from sgl_kernel import _stub

_NAMES = """
transfer_kv_all_layer transfer_kv_all_layer_direct_lf_pf transfer_kv_all_layer_lf_pf
transfer_kv_all_layer_lf_ph transfer_kv_all_layer_mla transfer_kv_all_layer_mla_lf_pf
transfer_kv_direct transfer_kv_per_layer transfer_kv_per_layer_direct_pf_lf
transfer_kv_per_layer_mla transfer_kv_per_layer_mla_pf_lf transfer_kv_per_layer_pf_lf
transfer_kv_per_layer_ph_lf
""".split()
globals().update({name: _stub(name) for name in _NAMES})
