"""The kernel-level checks of the GPU suite: which script runs, with which arguments, and
what its JSON must show, unpatched and patched. One definition, used by the pytest tests
(``test_issue_*.py``) and by ``device_check.py`` (``ci/device-check.sh``).

Each ``problems_*`` function returns why a result does not show what it must (empty: it
does): unpatched, the bug's symptom in the release's own code; patched, its absence.
"""

from __future__ import annotations

from dataclasses import dataclass, field

REPLAYS = 100  # draft replays per run: 4 of a full batch, then padded ones


@dataclass(frozen=True)
class KernelCheck:
    issue: int
    fix: str
    script: str
    args: tuple = ()
    what: str = ""
    origin: str = ""  # where the number the check compares against comes from
    judge: object = field(default=None, compare=False)

    def argv(self, root, patched: bool, device: str, replays: int = REPLAYS) -> list[str]:
        extra = ["--replays", str(replays)] if self.script == "draft_replay.py" else []
        return (["--sglang-root", str(root), "--device", device, *self.args, *extra]
                + (["--patched"] if patched else []))

    def problems(self, out: dict | None, patched: bool, replays: int = REPLAYS) -> list[str]:
        if not out:
            return [f"{self.script} printed no result"]
        return self.judge(out, patched, replays)


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
    if patched and out["violations"]:
        found.append(f"kv_indptr claims more than was written with the fix: {out['first_violation']}")
    if not patched and (out["first_violation"] is None or out["max_excess"] <= 0):
        found.append("kv_indptr never outgrew what the kernel wrote")
    return found


def problems_9481_mask(out: dict, patched: bool, replays: int = REPLAYS) -> list[str]:
    found = []
    if not (out["kernel_copied_prefix"] and out["bs"] > out["raw_bs"]):
        found.append(f"not a padded batch with a working kernel: bs {out['bs']}, raw_bs {out['raw_bs']}")
    if patched:
        if out["short_by"] != 0:
            found.append(f"the mask is short by {out['short_by']} with the fix")
    else:
        # (bs - raw_bs) * D * (D + fill) booleans missing, as the dossier says.
        want = (out["bs"] - out["raw_bs"]) * out["draft_tokens"] * (out["draft_tokens"] + out["fill"])
        if out["short_by"] != want:
            found.append(f"mask short by {out['short_by']}, expected {want}")
    return found


def problems_26340(out: dict, patched: bool, replays: int = REPLAYS) -> list[str]:
    found = [] if out["kernel_copied_prefix"] else ["the kernel did not copy request 0's req_to_token prefix"]
    if patched:
        if "draft-kv-indices-topk" not in out["fixes_in_file"]:  # other fixes may share the file
            found.append(f"fix not applied: {out['fixes_in_file']}")
        if out["row_width"] < out["last_row_needs"] or out["past_buffer"]:
            found.append(f"row {out['row_width']} for {out['last_row_needs']}; {out['past_buffer']} written past")
    else:
        # Everything the last row needs beyond the buffer is written there.
        want = out["last_row_needs"] - out["row_width"]
        if want <= 0 or out["past_buffer"] != want:
            found.append(f"{out['past_buffer']} entries written past the buffer, expected {want}")
    return found


DRAFT_9888 = KernelCheck(
    9888, "draft-padding-positions", "draft_replay.py", ("--topk", "1", "--steps", "3", "--context", "64"),
    "draft kv_indptr vs kv_indices written by generate_draft_decode_kv_indices, real replay, topk 1",
    "what the kernel wrote: topk * sum(seq_lens) + bs * topk * (step + 1)", problems_9888)
DRAFT_9521 = KernelCheck(
    9521, "draft-padding-positions", "draft_replay.py", ("--topk", "4", "--steps", "3", "--context", "256"),
    "same, tree layout (topk 4)", "what the kernel wrote: topk * sum(seq_lens) + bs * topk * (step + 1)",
    problems_9521)
MASK_9481 = KernelCheck(
    9481, "verify-mask-padding", "verify_mask.py", (),
    "verify mask from the real generate_attn_arg_prefill (and its Triton kernel) vs mask_indptr[-1]",
    "mask_indptr[-1] computed by this suite the way FlashInfer's plan computes it for page size 1 "
    "(sum of qo_len * kv_len over the padded batch); FlashInfer itself does not run here",
    problems_9481_mask)
ROWS_26340 = KernelCheck(
    26340, "draft-kv-indices-topk", "draft_kv_indices.py", (),
    "draft CUDA-graph kv_indices rows sized by the real init_cuda_graph_state vs what the real kernel writes",
    "entries written past the buffer, counted in a guard band after it", problems_26340)

ALL = [DRAFT_9888, DRAFT_9521, MASK_9481, ROWS_26340]
