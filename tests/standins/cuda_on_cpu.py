"""Stand-in for the CUDA device: tensors SGLang asks to put on "cuda" are made on the CPU.

Mechanism tests run SGLang's real buffer set-up code (``with torch.device("cuda")``,
``device="cuda"`` factory calls) on a machine without a GPU. This torch function mode
sits underneath any ``torch.device`` context that code opens and turns a CUDA device
argument into the CPU, so the real shapes, dtypes and fill values are kept; only the
placement changes. Triton kernels then run on these tensors under TRITON_INTERPRET=1.
"""

import torch
from torch.overrides import TorchFunctionMode


def _cpu(device):
    return torch.device("cpu") if device is not None and torch.device(device).type == "cuda" else device


class CudaOnCpu(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if "device" in kwargs:
            kwargs["device"] = _cpu(kwargs["device"])
        if func in (torch.Tensor.to, torch.Tensor.cuda) and args:
            if func is torch.Tensor.cuda:
                return args[0]
            args = tuple(_cpu(a) if isinstance(a, (str, torch.device)) else a for a in args)
        return func(*args, **kwargs)
