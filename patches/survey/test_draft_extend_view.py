"""The survey's verdict on the draft-extend runner's unsliced metadata view (lead of PR
#36913), on real code (see draft_extend_view.py): the runner hands the backend its whole
max_bs-row buffers with batch_size the padded size and no num_padding, rows past it holding
an earlier batch's requests; the Triton backend builds exactly the metadata of a view sliced
to batch_size rows, even with those rows set out of range. A release that slices the view
(or a backend that starts reading past batch_size) fails here: re-check the survey row."""

from pathlib import Path

import pytest

from sglang_releases import run_harness

HARNESS = Path(__file__).with_name("draft_extend_view.py")


@pytest.mark.slow
def test_unsliced_view_gives_the_triton_backend_the_sliced_metadata(cpu_env):
    lines = {line["replay"]: line for line in run_harness("0.5.15.post1", HARNESS, "off")}
    assert set(lines) == {"full", "exact", "poisoned", "padded"}, lines
    assert all(line["view_rows"] == [8, 8, 8] for line in lines.values()), lines  # max_bs rows
    assert lines["exact"]["rows_past_bs"] == {"req_pool_indices": [5, 6, 7, 8], "seq_lens": [300] * 4}
    assert lines["poisoned"]["rows_past_bs"]["seq_lens"] == [10 ** 6] * 4
    assert [lines[n]["kv_entries"] for n in ("full", "exact", "padded")] == [8 * 296, 4 * 36, 3 * 36]
    assert all(line["same_as_sliced"] for line in lines.values()), lines
