"""Engine driver of the GPU regression suite: ``python engine_driver.py CONFIG RESULT``.

Starts the real SGLang offline engine (``Engine(**config["engine"])``) on the tiny
local models, runs the workload phases one after another (each phase is one batch of
requests given as token ids; requests of a phase finish at different times, so the
running batch shrinks through sizes that are not captured), and writes RESULT (JSON)
after every phase, so a run that dies half-way still says how far it got.

The module level arms the invariant probe. SGLang starts its scheduler with the
``spawn`` method, and a spawn child re-runs this file (as ``__mp_main__``) before it
imports anything of SGLang: so the probe is armed in every SGLang process, the same
way the shim's .pth arms the shim's hook at interpreter start.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import spec_probe  # noqa: E402

spec_probe.arm("driver" if __name__ == "__main__" else "child")


def token_ids(n: int, vocab: int, salt: int) -> list[int]:
    """Deterministic prompt ids, clear of the special ids at the bottom of the vocab."""
    return [10 + (salt * 7919 + i * 104729) % (vocab - 20) for i in range(n)]


def write(path: str, result: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    os.replace(tmp, path)


def main(config_path: str, result_path: str) -> int:
    with open(config_path, encoding="utf-8") as fh:
        config = json.load(fh)
    result = {"driver_pid": os.getpid(), "started": False, "phases": [], "error": None}
    write(result_path, result)

    from sglang.srt.entrypoints.engine import Engine

    engine = Engine(**config["engine"])
    result["started"] = True
    write(result_path, result)
    try:
        for p, phase in enumerate(config["phases"]):
            t0 = time.time()
            prompts = [token_ids(r["input_len"], config["vocab_size"], salt=p * 100 + i) for i, r in enumerate(phase)]
            params = [{"max_new_tokens": r["max_new_tokens"], "temperature": 0.0, "ignore_eos": True} for r in phase]
            outs = engine.generate(input_ids=prompts, sampling_params=params)
            result["phases"].append({
                "seconds": round(time.time() - t0, 2),
                "requests": [
                    {"max_new_tokens": r["max_new_tokens"],
                     "output_len": len(o.get("output_ids") or []),
                     "finish": (o.get("meta_info", {}).get("finish_reason") or {}).get("type"),
                     # the engine's own limit: max_new_tokens, clipped to what the context leaves
                     "finish_length": (o.get("meta_info", {}).get("finish_reason") or {}).get("length"),
                     "ids_in_vocab": all(0 <= t < config["vocab_size"] for t in (o.get("output_ids") or []))}
                    for r, o in zip(phase, outs)
                ],
            })
            write(result_path, result)
    except Exception as exc:  # recorded; the test decides what it means
        result["error"] = f"{type(exc).__name__}: {exc}"
        write(result_path, result)
        return 1
    finally:
        engine.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
