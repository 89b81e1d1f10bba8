"""The diff layer refuses what a careless patch tool would accept.

These use small texts on purpose: they test the rules of the diff layer itself
(paths, truncation, fuzz, ambiguous anchors), not SGLang code.
"""

import pytest
import unipatch

from sglang_spec_patches import diffs

SOURCE = "def f(x):\n    a = 1\n    b = 2\n    c = 3\n    return a + b + c\n"
GOOD = """--- a/sglang/srt/m.py
+++ b/sglang/srt/m.py
@@ -2,3 +2,4 @@
     a = 1
     b = 2
+    b += x
     c = 3
"""


def test_good_diff_applies_and_reverts():
    (patch,) = diffs.parse(GOOD)
    new = diffs.apply(SOURCE, patch)
    assert "    b += x\n" in new
    assert diffs.apply(new, patch, reverse=True) == SOURCE


def test_applies_at_an_offset():
    (patch,) = diffs.parse(GOOD)
    shifted = "import os\nimport sys\n" + SOURCE
    assert "    b += x\n" in diffs.apply(shifted, patch)


def test_no_fuzz_even_though_unipatch_would_fuzz():
    (patch,) = diffs.parse(GOOD)
    drifted = SOURCE.replace("    c = 3\n", "    c = 4\n")  # one context line differs
    assert "b += x" in unipatch.apply_patch(drifted, patch.text)  # GNU-style fuzz accepts it
    with pytest.raises(diffs.DoesNotApply, match="hunk #1 not found"):
        diffs.apply(drifted, patch)


def test_ambiguous_anchor_is_refused():
    (patch,) = diffs.parse(GOOD)
    twice = SOURCE + "\n" + SOURCE.replace("def f", "def g")
    with pytest.raises(diffs.DoesNotApply, match="found 2 times"):
        diffs.apply(twice, patch)


@pytest.mark.parametrize(
    "path",
    ["/etc/passwd", "../sglang/srt/m.py", "sglang/../../x.py", "other/m.py", "sglang/srt/m.so",
     "sglang\\srt\\m.py", "sglang//m.py", "./sglang/m.py"],
)
def test_paths_outside_the_sglang_package_are_refused(path):
    hostile = GOOD.replace("sglang/srt/m.py", path)
    with pytest.raises(diffs.DiffError):
        diffs.parse(hostile)


@pytest.mark.parametrize(
    "text, message",
    [
        (GOOD[: GOOD.rindex("+    b += x")], "truncated"),
        (GOOD.replace("@@ -2,3 +2,4 @@", "@@ -2,3 +2,9 @@"), "truncated"),
        (GOOD.replace("     c = 3\n", "?    c = 3\n"), "unexpected"),
        (GOOD.replace("@@ -2,3 +2,4 @@", "@@ garbage @@"), "bad hunk header"),
        ("just some text\n", "no file sections"),
        (GOOD.split("@@")[0], "no hunks"),
        (GOOD + GOOD, "appears twice"),
        (GOOD.replace("+++ b/sglang/srt/m.py", "+++ b/sglang/srt/n.py"), "renames"),
        ("@@ -1 +1 @@\n-a\n+b\n", "outside a file section"),
        (GOOD.replace("+    b += x\n", " \n").replace("+2,4", "+2,4"), "counts"),
        ("x" * (diffs.MAX_DIFF_BYTES + 1), "more than"),
    ],
)
def test_corrupt_diffs_are_errors_not_smaller_patches(text, message):
    with pytest.raises(diffs.DiffError, match=message):
        diffs.parse(text)
