"""Stand-in for the GPU-only package ``torchvision`` (as built for the pinned torch).

PyPI's torchvision wheels are tied to one CUDA build of torch and do not load
next to the CPU torch of the test environment. From 0.5.4 on, SGLang imports
``torchvision.transforms`` at module level in config modules that
``sglang.srt.configs`` pulls in, so importing any SGLang module needs the name.
Only what those imports name is here; image transforms themselves are absent.
No dist-info is installed, so ``transformers`` still reports torchvision missing.
"""

__version__ = "0.0.0+standin"
