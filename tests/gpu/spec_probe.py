"""Invariant probe for the GPU regression suite: it turns a lucky crash into a record.

The bugs of #9888/#9521, #9481 and #9388 corrupt a few numbers long before (and often
without) an illegal memory access. The probe checks those numbers at the point where
SGLang hands them on, and appends what it finds, as JSON lines, to the file named by
``SGLANG_SPEC_PROBE_OUT``. The test that started the engine reads that file.

How it gets into SGLang's scheduler: like the shim's own hook, a meta-path finder.
``arm()`` puts it first on ``sys.meta_path``; when one of the modules below is
imported, it lets the finders after it (the shim's hook among them, so the module is
born fixed when the shim is on) find and execute the module, then wraps the named
methods. The scheduler is a ``spawn`` child; a spawn child re-runs the parent's main
script before it unpickles its target, and the suite's engine driver calls ``arm()``
at module level, so every SGLang process arms the probe before importing SGLang.

Checks (names as recorded):

* ``draft-kv-indptr`` (#9888, #9521): after ``FlashInferMultiStepDraftBackend.
  common_template`` ran the ``generate_draft_decode_kv_indices`` kernel, the end of
  each planned step's ``kv_indptr`` must not exceed what the kernel wrote into
  ``kv_indices`` (``topk * sum(seq_lens) + bs * topk * (step + 1)``). Checked for real
  batches (replay and eager), not while CUDA graphs are being set up.
* ``verify-mask`` (#9481): what ``EagleVerifyInput.generate_attn_arg_prefill`` returns
  must carry a custom mask at least ``mask_indptr[-1]`` long, computed from the
  returned qo/kv indptrs the way FlashInfer's plan does (page size 1:
  ``sum(qo_len * kv_len)``).
* ``draft-rope`` (#9388): every position the EAGLE draft model (``LlamaForCausalLMEagle``)
  is run on must lie inside its rotary cache (``cos_sin_cache`` rows).
* ``req-to-token-row`` (#9388): verify (``EagleVerifyInput.prepare_for_verify``) and
  draft cache assignment (``EAGLEWorker.draft``) must not write past a ``req_to_token``
  row.

A check that passes writes nothing of its own, so "no violation" alone would also be
what a run looks like that never reached the buggy path. Every check therefore also
records that it ran (``checked``, with ``padded`` true when the batch it saw was padded
up to a captured CUDA-graph size: a draft replay with ``bs != raw_bs``, learnt from
``EAGLEDraftCudaGraphRunner.replay``; a verify whose indptrs cover more requests than
the tree was built for). The tests assert those counts before they trust a clean run.

The probe never raises into SGLang: a check that fails to run, or a method it cannot
wrap, is recorded as ``probe-error``; arming never fails. Checks are skipped while a
CUDA graph is being captured.
"""

from __future__ import annotations

import functools
import importlib.abc
import inspect
import json
import os
import sys
import threading

OUT_ENV = "SGLANG_SPEC_PROBE_OUT"
MAX_RECORDS_PER_CHECK = 20  # per process; the first ones are what a test needs
MAX_CHECKED_RECORDS = 2000  # "checked" records per check and padded/unpadded, per process

_lock = threading.Lock()
_counts: dict[str, int] = {}
_rope_rows: dict[int, int] = {}  # id(draft model) -> rotary cache rows
_draft_replay = threading.local()  # raw batch size of the draft replay in progress


def _write(record: dict) -> None:
    path = os.environ.get(OUT_ENV)
    if not path:
        return
    record = {"pid": os.getpid(), "ppid": os.getppid(), **record}
    try:
        line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode()
        # One O_APPEND write per record: lines from several processes never interleave.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except (OSError, TypeError, ValueError):
        pass  # a record lost is the test's problem (it finds no record), never SGLang's


def _count(kind: str) -> bool:
    with _lock:
        _counts[kind] = _counts.get(kind, 0) + 1
        return _counts[kind] <= MAX_RECORDS_PER_CHECK


def violation(check: str, target: str, **detail) -> None:
    if _count(check):
        _write({"event": "violation", "check": check, "target": target, "detail": detail})


def checked(check: str, padded: bool, **detail) -> None:
    """Record that ``check`` ran (whatever it found), and whether its batch was padded."""
    with _lock:
        key = f"checked:{check}:{padded}"
        _counts[key] = _counts.get(key, 0) + 1
        if _counts[key] > MAX_CHECKED_RECORDS:
            return
    _write({"event": "checked", "check": check, "padded": padded, "detail": detail})


# --- the checks: each gets the bound arguments (and the result for "after" checks) ----


def _ints(tensor) -> list[int]:
    return [int(x) for x in tensor.tolist()]


def note_draft_replay(args: dict, result) -> None:
    # replay() pads forward_batch.batch_size up to the captured size before the backend
    # plans: remember the live size, for the planning check that follows.
    _draft_replay.raw_bs = int(args["forward_batch"].batch_size)


def check_draft_kv_indptr(args: dict, result) -> None:
    raw_bs = getattr(_draft_replay, "raw_bs", None)
    _draft_replay.raw_bs = None
    # Capture plans with whatever the warm-up runs left in the graph's buffers; only the
    # metadata of real batches (replay, eager) is what the fix is about.
    if "capture_cuda_graph.<locals>" in getattr(args.get("call_fn"), "__qualname__", ""):
        return
    self, forward_batch, kv_indices = args["self"], args["forward_batch"], args["kv_indices_buffer"]
    num_seqs, topk, steps = forward_batch.batch_size, self.topk, self.speculative_num_steps
    n = num_seqs * topk
    seq_sum = int(forward_batch.seq_lens[:num_seqs].sum())
    ends = _ints(self.kv_indptr[:, n])
    row_width = int(kv_indices.shape[-1])
    checked("draft-kv-indptr", raw_bs is not None and raw_bs != num_seqs, batch_size=num_seqs, raw_bs=raw_bs)
    for step in range(max(steps - 1, 0)):  # the steps whose metadata goes to FlashInfer
        written = topk * seq_sum + n * (step + 1)
        if ends[step] > written:
            violation("draft-kv-indptr", "FlashInferMultiStepDraftBackend.common_template",
                      batch_size=num_seqs, raw_bs=raw_bs, topk=topk, step=step, kv_indptr_end=ends[step],
                      written=written, row_width=row_width, past_row=ends[step] > row_width)
            return


def mask_indptr_end(qo_indptr, kv_indptr) -> int:
    """``mask_indptr[-1]`` as FlashInfer's plan computes it for page size 1."""
    qo, kv = _ints(qo_indptr), _ints(kv_indptr)
    return sum((qo[i + 1] - qo[i]) * (kv[i + 1] - kv[i]) for i in range(len(qo) - 1))


def _verify_raw_bs(spec_info) -> int | None:
    """How many requests the verify tree was built for (``retrive_index`` has one row each)."""
    index = getattr(spec_info, "retrive_index", None)
    return int(index.shape[0]) if index is not None and hasattr(index, "shape") else None


def check_verify_mask(args: dict, result) -> None:
    _kv_indices, kv_indptr, qo_indptr, mask = result
    if mask is None:
        return
    needed = mask_indptr_end(qo_indptr, kv_indptr)
    bs, raw_bs = len(qo_indptr) - 1, _verify_raw_bs(args["self"])
    checked("verify-mask", raw_bs is not None and bs > raw_bs, batch_size=bs, raw_bs=raw_bs,
            mask_numel=int(mask.numel()), mask_indptr_end=needed)
    if mask.numel() < needed:
        violation("verify-mask", "EagleVerifyInput.generate_attn_arg_prefill",
                  batch_size=len(qo_indptr) - 1, mask_numel=int(mask.numel()),
                  mask_indptr_end=needed, short_by=needed - int(mask.numel()))


def _rotary_rows(model) -> int | None:
    key = id(model)
    if key not in _rope_rows:
        rows = None
        for module in model.modules():
            cache = getattr(module, "cos_sin_cache", None)
            if cache is not None and hasattr(cache, "shape"):
                rows = int(cache.shape[0])
                break
        _rope_rows[key] = rows
    return _rope_rows[key]


def check_draft_rope(args: dict, result) -> None:
    positions = args["positions"]
    rows = _rotary_rows(args["self"])
    if rows is None or positions is None or positions.numel() == 0:
        return
    top = int(positions.max())
    checked("draft-rope", False, max_position=top, rope_rows=rows)
    if top >= rows:
        violation("draft-rope", "LlamaForCausalLMEagle.forward", max_position=top, rope_rows=rows)


def _row_check(where: str, target: str, batch, extra: int) -> None:
    if batch.forward_mode.is_idle() or batch.seq_lens.numel() == 0:
        return
    width = int(batch.req_to_token_pool.req_to_token.shape[1])
    end = int(batch.seq_lens.max()) + extra  # one past the last column written
    checked("req-to-token-row", False, where=where, end_column=end, row_width=width)
    if end > width:
        violation("req-to-token-row", target, where=where, end_column=end, row_width=width)


def check_verify_rows(args: dict, result) -> None:
    self, batch = args["self"], args["batch"]
    _row_check("verify", "EagleVerifyInput.prepare_for_verify", batch, self.draft_token_num)


def check_draft_rows(args: dict, result) -> None:
    self, batch = args["self"], args["batch"]
    if getattr(self, "page_size", 1) != 1:
        return  # the kernel's layout for page size > 1 differs; the suite runs page size 1
    _row_check("draft", "EAGLEWorker.draft", batch, self.topk * self.speculative_num_steps)


_VERIFY = [("EagleVerifyInput", "generate_attn_arg_prefill", "after", check_verify_mask),
           ("EagleVerifyInput", "prepare_for_verify", "before", check_verify_rows)]

# module -> [(class, method, when, check)]
TARGETS = {
    "sglang.srt.speculative.eagle_draft_cuda_graph_runner": [
        ("EAGLEDraftCudaGraphRunner", "replay", "before", note_draft_replay)],
    "sglang.srt.layers.attention.flashinfer_backend": [
        ("FlashInferMultiStepDraftBackend", "common_template", "after", check_draft_kv_indptr)],
    "sglang.srt.speculative.eagle_utils": _VERIFY,  # up to 0.5.3rc0
    "sglang.srt.speculative.eagle_info": _VERIFY,  # from 0.5.3rc2
    "sglang.srt.speculative.eagle_worker": [("EAGLEWorker", "draft", "before", check_draft_rows)],
    "sglang.srt.models.llama_eagle": [("LlamaForCausalLMEagle", "forward", "before", check_draft_rope)],
}


# --- wrapping -----------------------------------------------------------------------


def _capturing() -> bool:
    torch = sys.modules.get("torch")
    try:
        return bool(torch is not None and torch.cuda.is_available() and torch.cuda.is_current_stream_capturing())
    except Exception:
        return False


def _wrap(fn, target: str, when: str, check):
    signature = inspect.signature(fn)

    def run_check(args, kwargs, result):
        if _capturing():
            return
        try:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            check(bound.arguments, result)
        except Exception as exc:  # a probe bug must not look like an SGLang bug
            if _count("probe-error:" + target):
                _write({"event": "probe-error", "target": target, "error": f"{type(exc).__name__}: {exc}"})

    @functools.wraps(fn)
    def probed(*args, **kwargs):
        if when == "before":
            run_check(args, kwargs, None)
        result = fn(*args, **kwargs)
        if when == "after":
            run_check(args, kwargs, result)
        return result

    probed.__spec_probe__ = target
    return probed


def attach(module, name: str, loader_name: str = "") -> list[str]:
    """Wrap the named methods of an executed module; returns the targets wrapped.
    Never raises: a method it cannot wrap is recorded as a probe error and left as it is."""
    done = []
    for cls_name, meth_name, when, check in TARGETS.get(name, ()):
        target = f"{cls_name}.{meth_name}"
        try:
            cls = getattr(module, cls_name, None)
            fn = getattr(cls, meth_name, None) if cls is not None else None
            if fn is None or getattr(fn, "__spec_probe__", None):
                continue
            setattr(cls, meth_name, _wrap(fn, target, when, check))
        except Exception as exc:
            _write({"event": "probe-error", "target": target, "error": f"attach: {type(exc).__name__}: {exc}"})
            continue
        done.append(target)
        _write({"event": "attached", "module": name, "target": target, "loader": loader_name})
    return done


class _ProbeLoader(importlib.abc.Loader):
    """Runs the module with the loader found for it, then wraps its methods."""

    def __init__(self, inner, name: str):
        self._inner = inner
        self._name = name

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        self._inner.exec_module(module)
        attach(module, self._name, type(self._inner).__name__)

    def __getattr__(self, attr):  # get_source, get_filename, is_package ...
        return getattr(self._inner, attr)


class ProbeFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname not in TARGETS:
            return None
        finders = sys.meta_path
        rest = finders[finders.index(self) + 1:] if self in finders else []
        for finder in rest:
            find = getattr(finder, "find_spec", None)
            # The finders' own errors are theirs, raised as without the probe.
            spec = find(fullname, path, target) if find else None
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _ProbeLoader(spec.loader, fullname)
                return spec
        return None


def arm(role: str = "child") -> bool:
    """Arm the probe in this process (idempotent). A no-op unless SGLANG_SPEC_PROBE_OUT is set.
    Never raises: a probe that cannot arm leaves no records, which the tests notice."""
    if not os.environ.get(OUT_ENV):
        return False
    try:
        if not any(isinstance(f, ProbeFinder) for f in sys.meta_path):
            sys.meta_path.insert(0, ProbeFinder())
            shim = "sglang_spec_patches" in sys.modules
            _write({"event": "armed", "role": role, "shim_loaded": shim})
            for name in TARGETS:  # imported before arming (should not happen in the suite)
                if name in sys.modules:
                    attach(sys.modules[name], name, "already-imported")
    except Exception:
        return False
    return True


# --- reading the records (used by the tests) -----------------------------------------


class Report:
    def __init__(self, records: list[dict]):
        self.records = records

    @classmethod
    def read(cls, path) -> "Report":
        records = []
        try:
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    line = line.strip()
                    if line:
                        try:
                            records.append(json.loads(line))
                        except json.JSONDecodeError:
                            pass  # a process killed mid-write leaves at most one torn line
        except FileNotFoundError:
            pass
        return cls(records)

    def _events(self, event: str) -> list[dict]:
        return [r for r in self.records if r.get("event") == event]

    def armed_pids(self, role: str | None = None) -> set[int]:
        return {r["pid"] for r in self._events("armed") if role is None or r.get("role") == role}

    def attached(self, target: str, exclude_pids=()) -> list[dict]:
        return [r for r in self._events("attached") if r["target"] == target and r["pid"] not in set(exclude_pids)]

    def violations(self, check: str | None = None) -> list[dict]:
        return [r for r in self._events("violation") if check is None or r["check"] == check]

    def errors(self) -> list[dict]:
        return self._events("probe-error")

    def checks(self, check: str, padded: bool | None = None, exclude_pids=()) -> list[dict]:
        """The ``checked`` records of one check (only padded batches with ``padded=True``)."""
        return [r for r in self._events("checked") if r["check"] == check and r["pid"] not in set(exclude_pids)
                and (padded is None or r["padded"] == padded)]

    def summary(self) -> str:
        checks: dict[str, int] = {}
        for v in self.violations():
            checks[v["check"]] = checks.get(v["check"], 0) + 1
        first = {c: next(v["detail"] for v in self.violations(c)) for c in checks}
        made: dict[str, list[int]] = {}
        for r in self._events("checked"):
            made.setdefault(r["check"], [0, 0])[bool(r["padded"])] += 1
        return (f"armed in {len(self.armed_pids())} process(es); checks made [unpadded, padded] {made or 'none'}; "
                f"violations {checks or 'none'}; "
                f"first {first}; probe errors {[e['error'] for e in self.errors()][:3]}")
