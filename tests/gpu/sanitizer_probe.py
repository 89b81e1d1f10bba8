"""A planted out-of-bounds write for ``sanitizer.probe``: a Triton kernel stores one int32
just past the end of a 64-entry tensor (in its own allocation, with
``PYTORCH_NO_CUDA_MEMORY_CACHING=1``). A working compute-sanitizer memcheck reports an
invalid global write of size 4 and exits with its error exit code; the same shape of
error as the kernel-level checks' spills. Prints one JSON line when the script reaches
its end.
"""

import json

import torch
import triton
import triton.language as tl


@triton.jit
def store_past_end(ptr, n):
    tl.store(ptr + n, 1)


def main():
    x = torch.zeros(64, dtype=torch.int32, device="cuda")
    store_past_end[(1,)](x, x.numel())
    torch.cuda.synchronize()
    print(json.dumps({"planted": "one int32 past a 64-entry tensor", "device": torch.cuda.get_device_name(0)}))


if __name__ == "__main__":
    main()
