"""The kernel-level checks of the GPU suite: which script runs, with which arguments, and
what its JSON must show, unpatched and patched. One definition, used by the pytest tests
(``test_issue_*.py``) and by ``device_check.py`` (``ci/device-check.sh``).

Each ``problems_*`` function returns why a result does not show what it must (empty: it
does): unpatched, the bug's symptom in the release's own code; patched, its absence.

The patched side is always the text the engine's plan gives for the release: every fix
of this checkout that applies there. A check that names a fix (``fix``) runs where the
plan applies it; ``bug_in`` lists releases where the bug is known to be present although
this checkout may not fix it yet (a fix being written elsewhere): there the unpatched run
always happens, and the patched one only once the plan applies a fix to ``target_file``
(with ``fix`` set, that fix), else the report says "awaiting a fix" instead of a result.
A check with ``sanitizer`` runs its script without the guard band under compute-sanitizer
(``sanitizer.py``): the access must be the sanitizer's own finding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

REPLAYS = 100  # draft replays per run: 4 of a full batch, then padded ones


@dataclass(frozen=True)
class KernelCheck:
    issue: int | str  # an upstream issue number, or a short name where there is none
    fix: str | None  # None: whichever fix this checkout's plan applies to target_file
    script: str
    args: tuple = ()
    what: str = ""
    origin: str = ""  # where the number the check compares against comes from
    judge: object = field(default=None, compare=False)
    target_file: str = ""
    bug_in: tuple = ()  # releases with the bug whatever the plan says (see the module docstring)
    only_releases: tuple = ()  # run on these only (empty: every release checked)
    sanitizer: str | None = None  # "write" / "read": the invalid access compute-sanitizer must report
    shown: tuple = ()  # result keys the report shows

    @property
    def name(self) -> str:
        return f"#{self.issue}" if isinstance(self.issue, int) else str(self.issue)

    def argv(self, root, patched: bool, device: str, replays: int = REPLAYS) -> list[str]:
        extra = ["--replays", str(replays)] if self.script == "draft_replay.py" else []
        extra += ["--no-guard-band"] if self.sanitizer else []
        return (["--sglang-root", str(root), "--device", device, *self.args, *extra]
                + (["--patched"] if patched else []))

    def problems(self, out: dict | None, patched: bool, replays: int = REPLAYS) -> list[str]:
        if not out:
            return [f"{self.script} printed no result"]
        return self.judge(out, patched, replays)

    def fix_in_plan(self, fixes_for_target: list[str]) -> bool:
        """Does the plan's patched text of target_file carry the fix this check needs?"""
        return bool(fixes_for_target) if self.fix is None else self.fix in fixes_for_target


def _padded_replays(out, replays) -> list[str]:
    # The workload: 4 replays of a full batch of 8, every later one a batch of 5 padded to 8.
    want = replays - 4
    return [] if out["padded_replays"] == want else [f"{out['padded_replays']} padded replays, expected {want}"]


def problems_9888(out: dict, patched: bool, replays: int = REPLAYS) -> list[str]:
    found = _padded_replays(out, replays)
    if not out["kernel_copied_prefix"]:
        found.append("the kernel did not copy request 0's req_to_token prefix")
    if out["write_past_row"]:
        found.append("a correct write would not fit the row: the workload is wrong")
    if not out["batch_restored"]:
        found.append("a replay did not hand the live batch size back")
    if patched:
        if "draft-padding-positions" not in out["fixes_in_runner"]:
            found.append(f"fix not applied to the runner: {out['fixes_in_runner']}")
        if out["violations"] or out["first_past_row"] is not None:
            found.append(f"kv_indptr claims more than was written with the fix: {out['first_violation']}")
    else:
        if out["fixes_in_runner"]:
            found.append(f"the unpatched runner carries fixes: {out['fixes_in_runner']}")
        if out["first_violation"] is None:
            found.append("kv_indptr never outgrew what the kernel wrote")
        if out["first_past_row"] is None:
            found.append("kv_indptr never passed the end of the kv_indices row")
    return found


def problems_9521(out: dict, patched: bool, replays: int = REPLAYS) -> list[str]:
    found = _padded_replays(out, replays)
    if not out["kernel_copied_prefix"]:
        found.append("the kernel did not copy request 0's req_to_token prefix")
    if out["write_past_row"]:
        found.append("a correct write would not fit the row: the workload is wrong")
    if not out["batch_restored"]:
        found.append("a replay did not hand the live batch size back")
    if patched and out["violations"]:
        found.append(f"kv_indptr claims more than was written with the fix: {out['first_violation']}")
    if not patched and (out["first_violation"] is None or out["max_excess"] <= 0):
        found.append("kv_indptr never outgrew what the kernel wrote")
    return found


def problems_9481_mask(out: dict, patched: bool, replays: int = REPLAYS) -> list[str]:
    found = []
    # The indptrs the real generate_attn_arg_prefill returned must cover the padded batch.
    rows = (out["qo_indptr_rows"], out["kv_indptr_rows"])
    if not out["kernel_copied_prefix"] or rows != (out["bs"], out["bs"]) or out["bs"] <= out["raw_bs"]:
        found.append(f"not a padded batch with a working kernel: indptr rows {rows}, bs {out['bs']}, "
                     f"raw_bs {out['raw_bs']}, prefix copied {out['kernel_copied_prefix']}")
    if patched:
        if out["short_by"] != 0:
            found.append(f"the mask is short by {out['short_by']} with the fix")
    else:
        # (bs - raw_bs) * D * (D + fill) booleans missing, as the dossier says.
        want = (out["bs"] - out["raw_bs"]) * out["draft_tokens"] * (out["draft_tokens"] + out["fill"])
        if out["short_by"] != want:
            found.append(f"mask short by {out['short_by']}, expected {want}")
    return found


def _copied(out: dict, patched: bool) -> list[str]:
    """The kernel ran: it copied request 0's prefix. Not asked of an unpatched run without the
    guard band: there compute-sanitizer ends the kernel at its first invalid write (its
    report is the evidence), so other programs of the kernel may never have run."""
    if out["kernel_copied_prefix"] or (not patched and out.get("guard_band") is False):
        return []
    return ["the kernel did not copy request 0's req_to_token prefix"]


def problems_26340(out: dict, patched: bool, replays: int = REPLAYS) -> list[str]:
    found = _copied(out, patched)
    guarded = out["past_buffer"] is not None  # without the guard band, the sanitizer counts
    if patched:
        if "draft-kv-indices-topk" not in out["fixes_in_file"]:  # other fixes may share the file
            found.append(f"fix not applied: {out['fixes_in_file']}")
        if out["row_width"] < out["last_row_needs"] or (guarded and out["past_buffer"]):
            found.append(f"row {out['row_width']} for {out['last_row_needs']}; {out['past_buffer']} written past")
    else:
        # Everything the last row needs beyond the buffer is written there.
        want = out["last_row_needs"] - out["row_width"]
        if want <= 0 or (guarded and out["past_buffer"] != want):
            found.append(f"{out['past_buffer']} entries written past the buffer, expected {want}")
    return found


def problems_capture_bs(out: dict, patched: bool, replays: int = REPLAYS) -> list[str]:
    """The draft kv_indptr rows against what the kernel writes for the graph a full pool replays."""
    found = _copied(out, patched)
    if not out["kv_indices_fit"]:
        found.append("the kv_indices rows cannot hold what the kernel writes: the workload is wrong")
    if not out["bs"] > out["pool"] == out["raw_bs"]:
        found.append(f"the runner captured {out['captured']}: no graph above the pool of {out['pool']}, "
                     f"so nothing to show")
    guarded = out["past_buffer"] is not None
    if patched:
        if not out["fixes_in_file"]:
            found.append("no fix applied to the backend's file")
        if out["row"] < out["needed"] or (guarded and out["past_buffer"]) or any(out["row_starts"]):
            found.append(f"row {out['row']} for {out['needed']} entries; {out['past_buffer']} written past; "
                         f"row starts {out['row_starts']}")
        if any(n != out["needed"] for n in out["handed"]):
            found.append(f"steps handed kv_indptr of {out['handed']} entries, expected {out['needed']}")
        if out["last_page_len"] is not None and out["last_page_len"] < out["needed"] - 1:
            found.append(f"kv_last_page_len holds {out['last_page_len']} for {out['needed'] - 1} rows")
    else:
        want = out["needed"] - out["row"]
        if want <= 0 or (guarded and out["past_buffer"] != want):
            found.append(f"{out['past_buffer']} entries written past kv_indptr, expected {want}")
        if guarded and not any(out["row_starts"]):
            found.append("every later row still starts at 0: the spill did not reach the next row")
    return found


DRAFT_9888 = KernelCheck(
    9888, "draft-padding-positions", "draft_replay.py", ("--topk", "1", "--steps", "3", "--context", "64"),
    "draft kv_indptr vs kv_indices written by generate_draft_decode_kv_indices, real replay, topk 1",
    "what the kernel wrote: topk * sum(seq_lens) + bs * topk * (step + 1)", problems_9888,
    shown=("padded_replays", "violations", "max_excess", "first_past_row"))
DRAFT_9521 = KernelCheck(
    9521, "draft-padding-positions", "draft_replay.py", ("--topk", "4", "--steps", "3", "--context", "256"),
    "same, tree layout (topk 4)", "what the kernel wrote: topk * sum(seq_lens) + bs * topk * (step + 1)",
    problems_9521, shown=("padded_replays", "violations", "max_excess", "first_past_row"))
MASK_9481 = KernelCheck(
    9481, "verify-mask-padding", "verify_mask.py", (),
    "verify mask from the real generate_attn_arg_prefill (and its Triton kernel) vs mask_indptr[-1]",
    "mask_indptr[-1] computed by this suite the way FlashInfer's plan computes it for page size 1 "
    "(sum of qo_len * kv_len over the padded batch); FlashInfer itself does not run here",
    problems_9481_mask, shown=("raw_bs", "bs", "mask_numel", "mask_indptr_end", "short_by"))
ROWS_26340 = KernelCheck(
    26340, "draft-kv-indices-topk", "draft_kv_indices.py", (),
    "draft CUDA-graph kv_indices rows sized by the real init_cuda_graph_state vs what the real kernel writes",
    "entries written past the buffer, counted in a guard band after it", problems_26340,
    shown=("row_width", "last_row_needs", "past_buffer"))
MEMCHECK_26340 = KernelCheck(
    26340, "draft-kv-indices-topk", "draft_kv_indices.py", (),
    "same, without the guard band, under compute-sanitizer memcheck",
    "compute-sanitizer's own report: an invalid global write unpatched, none patched", problems_26340,
    only_releases=("0.5.12.post1",), sanitizer="write", shown=("row_width", "last_row_needs"))

_CAPTURE_BS_ORIGIN = ("what the kernel writes a row for the graph a full pool replays: bs * topk + 1, "
                      "bs from the real get_batch_sizes_to_capture (two-batch overlap, pool 5, topk 4)")
_CAPTURE_BS_SHOWN = ("captured", "bs", "row", "needed", "past_buffer", "row_starts", "handed")
# 0.5.14 .. 0.5.23 size the row ceil_align(pool * topk, alignment): 21 here, short of 25.
ROWS_CAPTURE_BS = KernelCheck(
    "kv-indptr-capture-bs", "draft-kv-indptr-capture-bs", "draft_kv_indptr.py", ("--backend", "flashinfer"),
    "FlashInfer multi-step draft kv_indptr rows sized by the real __init__ vs what the real kernel writes",
    _CAPTURE_BS_ORIGIN, problems_capture_bs, target_file="sglang/srt/layers/attention/flashinfer_backend.py",
    bug_in=("0.5.15.post1", "0.5.16"), shown=_CAPTURE_BS_SHOWN)
MEMCHECK_CAPTURE_BS = KernelCheck(
    "kv-indptr-capture-bs", "draft-kv-indptr-capture-bs", "draft_kv_indptr.py", ("--backend", "flashinfer"),
    "same, without the guard band, under compute-sanitizer memcheck (the last row's spill leaves the tensor)",
    "compute-sanitizer's own report: an invalid global write unpatched, none patched", problems_capture_bs,
    target_file="sglang/srt/layers/attention/flashinfer_backend.py", bug_in=("0.5.15.post1",),
    only_releases=("0.5.15.post1",), sanitizer="write", shown=("captured", "bs", "row", "needed"))
# The Triton draft backend sizes the row pool * topk in 0.5.10rc0 .. 0.5.23; its fix is
# named by the file it patches (any fix of this checkout that applies to it).
ROWS_TRITON = KernelCheck(
    "triton-kv-indptr", None, "draft_kv_indptr.py", ("--backend", "triton"),
    "Triton multi-step draft kv_indptr rows sized by the real __init__ vs what the real kernel writes",
    _CAPTURE_BS_ORIGIN, problems_capture_bs, target_file="sglang/srt/layers/attention/triton_backend.py",
    bug_in=("0.5.12.post1", "0.5.15.post1", "0.5.16"), shown=_CAPTURE_BS_SHOWN)
MEMCHECK_TRITON = KernelCheck(
    "triton-kv-indptr", None, "draft_kv_indptr.py", ("--backend", "triton"),
    "same, without the guard band, under compute-sanitizer memcheck",
    "compute-sanitizer's own report: an invalid global write unpatched, none patched", problems_capture_bs,
    target_file="sglang/srt/layers/attention/triton_backend.py", bug_in=("0.5.15.post1",),
    only_releases=("0.5.15.post1",), sanitizer="write", shown=("captured", "bs", "row", "needed"))

ALL = [DRAFT_9888, DRAFT_9521, MASK_9481, ROWS_26340, ROWS_CAPTURE_BS, ROWS_TRITON,
       MEMCHECK_26340, MEMCHECK_CAPTURE_BS, MEMCHECK_TRITON]
GPU_TESTS = [DRAFT_9888, DRAFT_9521, MASK_9481, ROWS_26340]  # what the pytest GPU suite runs
