"""compute-sanitizer (from the CUDA toolkit) for the kernel-level checks: where it is, how
it runs a script, whether it works on this machine, and what in its output counts as proof.

It is never assumed to work: on one of the lent machine's two runtimes it found a planted
out-of-bounds write, on the other it refused the device. ``probe`` runs it once on a
planted write (``sanitizer_probe.py``); only a probe that reports that write makes the
sanitizer checks run.

How it is run (flags as the Compute Sanitizer manual describes them):

* ``--tool memcheck``: out-of-bounds and misaligned global memory accesses;
* ``--destroy-on-device-error kernel``: on a precise error only the faulting kernel is
  terminated and later launches still run. The default, ``context``, destroys the CUDA
  context at the first invalid access, so the script's next CUDA call raises and it
  prints no result (seen with FlashInfer's plan on #9481). Imprecise errors still
  destroy the context;
* ``--report-api-errors no``: libraries probe features with CUDA API calls that fail on
  purpose; those are not memory errors;
* ``--error-exitcode 86``: the sanitizer's own "I found memory errors" exit status;
* ``--print-limit 20``: enough to name the kernel and the access;
* ``PYTORCH_NO_CUDA_MEMORY_CACHING=1``: every tensor its own allocation, so an access past
  a tensor's end is past an allocation's end, which is what memcheck sees (PyTorch's
  caching allocator would hand out neighbouring tensors from one block).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXIT = 86
ENV = {"PYTORCH_NO_CUDA_MEMORY_CACHING": "1"}
PROBE_TIMEOUT_S = 180

WORKS, ABSENT, REFUSED, BLIND = "works", "absent", "refused", "blind"


def find() -> str | None:
    """compute-sanitizer from the CUDA toolkit (PATH, $CUDA_HOME/bin, /usr/local/cuda/bin).
    The PyPI package nvidia-cuda-sanitizer-api holds only the library, not this binary."""
    found = shutil.which("compute-sanitizer")
    if found:
        return found
    for home in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if home and Path(home, "bin", "compute-sanitizer").is_file():
            return str(Path(home, "bin", "compute-sanitizer"))
    return None


def command(path: str) -> list[str]:
    """The prefix that runs a program under memcheck."""
    return [path, "--tool", "memcheck", "--destroy-on-device-error", "kernel", "--report-api-errors", "no",
            "--error-exitcode", str(EXIT), "--print-limit", "20"]


def evidence(text: str) -> dict:
    """What the sanitizer's own output says: did it run, how many errors, which accesses."""
    summary = re.search(r"ERROR SUMMARY: (\d+) errors?", text)
    return {"ran": "COMPUTE-SANITIZER" in text or summary is not None,
            "errors": int(summary[1]) if summary else None,
            "invalid_reads": len(re.findall(r"Invalid __global__ read", text)),
            "invalid_writes": len(re.findall(r"Invalid __global__ write", text))}


def problems(access: str, patched: bool, returncode: int, text: str) -> list[str]:
    """Why a sanitizer run does not show what it must (empty: it does). Unpatched: the
    sanitizer's error exit and an invalid global ``access`` ("read" or "write") in its
    report. Patched: exit 0 and a clean summary."""
    seen = evidence(text)
    if seen["errors"] is None:
        return ["no compute-sanitizer summary in the output: the sanitizer did not run the script to its end"]
    found = []
    if patched:
        if returncode != 0:
            found.append(f"exit {returncode}, expected 0")
        if seen["errors"] or seen["invalid_reads"] or seen["invalid_writes"]:
            found.append(f"the sanitizer reports {seen['errors']} errors with the fix")
    else:
        if returncode != EXIT:
            found.append(f"exit {returncode}, expected the sanitizer's error exit {EXIT}")
        if not seen[f"invalid_{access}s"]:
            found.append(f"no invalid global {access} in the sanitizer's report")
    return found


def probe_verdict(path: str | None, returncode: int | None, text: str) -> dict:
    """Whether the sanitizer works here, from its run on the planted write."""
    if path is None:
        return {"state": ABSENT, "detail": "compute-sanitizer not found (PATH, $CUDA_HOME/bin, /usr/local/cuda/bin)"}
    tail = " / ".join(line.strip() for line in text.strip().splitlines()[-4:])[:400]
    if returncode is None:
        return {"state": REFUSED, "path": path, "detail": f"the probe timed out after {PROBE_TIMEOUT_S} s: {tail}"}
    seen = evidence(text)
    if returncode == EXIT and seen["invalid_writes"]:
        return {"state": WORKS, "path": path, "detail": "found the planted out-of-bounds write (exit 86)"}
    if seen["errors"] == 0 and returncode == 0:
        return {"state": BLIND, "path": path, "detail": "ran the planted out-of-bounds write and reported nothing"}
    return {"state": REFUSED, "path": path, "detail": f"exit {returncode}: {tail}"}


def probe(env: dict | None = None) -> dict:
    """Run the sanitizer on ``sanitizer_probe.py`` (a Triton kernel that writes one int32
    past its tensor) and say whether it works here."""
    path = find()
    if path is None:
        return probe_verdict(None, None, "")
    cmd = [*command(path), sys.executable, str(HERE / "sanitizer_probe.py")]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S,
                              env={**(env or os.environ), **ENV})
    except subprocess.TimeoutExpired as exc:
        return probe_verdict(path, None, str(exc.stdout or ""))
    except OSError as exc:
        return {"state": REFUSED, "path": path, "detail": f"could not start: {exc}"}
    return probe_verdict(path, proc.returncode, proc.stdout + proc.stderr)
