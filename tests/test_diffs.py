"""The diff layer refuses what a careless patch tool would accept.

These use small texts on purpose: they test the rules of the diff layer itself
(paths, truncation, fuzz, ambiguous anchors), not SGLang code.
"""

import re

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


# --- bounded re-anchoring ---------------------------------------------------------------

BRANCH = '''import logging

logger = logging.getLogger(__name__)


class Runner:
    def replay(self, batch):
        raw = batch.size
        raw_n = raw * 2
        bs = self.pick(raw)
        if bs != raw:
            self.lens.fill_(1)
            self.loc.zero_()

        n = bs * 2
        self.pos[:raw_n].copy_(batch.pos)
        self.topk[:raw].copy_(batch.topk)
        return n
'''
ZERO_TOPK = """--- a/sglang/srt/m.py
+++ b/sglang/srt/m.py
@@ -15,4 +15,6 @@
         n = bs * 2
         self.pos[:raw_n].copy_(batch.pos)
+        if bs != raw:
+            self.topk[raw:bs].zero_()
         self.topk[:raw].copy_(batch.topk)
         return n
"""


def zero_topk():
    (patch,) = diffs.parse(ZERO_TOPK)
    return patch


def test_exact_match_is_not_re_anchored():
    new, notes = diffs.apply_anchored(BRANCH, zero_topk())
    assert notes == () and new == diffs.apply(BRANCH, zero_topk())


def test_clamp_beside_the_anchor_is_re_anchored_on_the_other_side():
    clamped = BRANCH.replace("self.topk[:raw].copy_(batch.topk)", "self.topk[:raw].copy_(batch.topk.clamp(min=0))")
    with pytest.raises(diffs.DoesNotApply):
        diffs.apply(clamped, zero_topk())
    new, (note,) = diffs.apply_anchored(clamped, zero_topk())
    assert "self.pos[:raw_n].copy_(batch.pos)\n        if bs != raw:\n            self.topk[raw:bs].zero_()\n" \
           "        self.topk[:raw].copy_(batch.topk.clamp(min=0))" in new
    assert "re-anchored in Runner.replay() at line" in note and "'self.topk[:raw].copy_(batch.topk)'" in note
    assert new.endswith("        return n\n")
    back, _ = diffs.apply_anchored(new, zero_topk(), reverse=True)
    assert back == clamped


def test_foreign_line_where_we_insert_goes_after_it_and_ours_follows_the_leading_context():
    logged = BRANCH.replace("        self.pos[:raw_n].copy_(batch.pos)\n",
                            "        self.pos[:raw_n].copy_(batch.pos)\n        logger.debug('pad %d', raw)\n")
    new, _ = diffs.apply_anchored(logged, zero_topk())
    assert "copy_(batch.pos)\n        if bs != raw:\n            self.topk[raw:bs].zero_()\n" \
           "        logger.debug('pad %d', raw)\n" in new
    too_far = BRANCH.replace("        self.pos[:raw_n].copy_(batch.pos)\n",
                             "        self.pos[:raw_n].copy_(batch.pos)\n"
                             + "        logger.debug('pad %d', raw)\n" * 9)
    assert diffs.MAX_FOREIGN_LINES < 9, "the case below must exceed the bound"
    with pytest.raises(diffs.DoesNotApply, match="different places"):
        diffs.apply_anchored(too_far, zero_topk())


def test_renamed_local_is_refused_never_an_unbound_name():
    renamed = re.sub(r"\braw\b", "real", BRANCH)  # the local only: raw_n keeps its name
    with pytest.raises(diffs.DoesNotApply, match="not bound there: raw$"):
        diffs.apply_anchored(renamed, zero_topk())


def test_a_changed_line_of_ours_cannot_be_re_anchored():
    (patch,) = diffs.parse(GOOD.replace("     b = 2\n+    b += x\n", "-    b = 2\n+    b = 2 + x\n")
                           .replace("+2,4", "+2,3"))
    with pytest.raises(diffs.DoesNotApply, match="a line the diff changes is absent"):
        diffs.apply_anchored(SOURCE.replace("    b = 2\n", "    b = 20\n"), patch)


def test_context_outside_any_function_is_never_an_anchor():
    (patch,) = diffs.parse(GOOD)
    class_body = "class K:\n    x = 0\n    a = 1\n    b = 2\n    c = 9\n"  # c = 3 changed: exact fails
    with pytest.raises(diffs.DoesNotApply, match="not even with its outer context trimmed"):
        diffs.apply_anchored(class_body, patch)
    in_function = class_body.replace("class K:", "def k(x):")
    assert "    b += x\n" in diffs.apply_anchored(in_function, patch)[0]


def test_anchor_found_in_two_functions_is_refused():
    twice = BRANCH + BRANCH.split("\n\n\n", 1)[1].replace("class Runner", "class Other")
    clamped = twice.replace("self.topk[:raw].copy_(batch.topk)", "self.topk[:raw].copy_(batch.topk.clamp(min=0))")
    with pytest.raises(diffs.DoesNotApply, match="not even with its outer context trimmed"):
        diffs.apply_anchored(clamped, zero_topk())


def test_bound_names_follow_the_function_the_hunk_lands_in():
    tree = diffs.ast.parse("import os\n\ndef f(a, *rest, k=1):\n    b = a\n    return os.sep, b, rest, k, len(c), self.z\n")
    assert diffs._unbound_names(tree, {5}) == ["c", "self", "self.z"]  # os.sep: a module's attribute
