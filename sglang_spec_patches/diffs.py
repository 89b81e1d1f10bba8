"""Reading and applying one fix's unified diff.

Applying is unipatch's job (in memory, GNU-patch offsets, reverse). This module only
adds what a patch tool for *someone else's* source needs on top:

* a diff is split into its files and every path is checked to stay inside the
  ``sglang`` package (no ``..``, no absolute path, no other package);
* every hunk is checked against its ``@@`` counts, so a truncated or corrupt file is
  an error and not a smaller patch;
* no fuzz: each hunk's old side (context and removed lines) must occur exactly once in
  the text, so a hunk can never land in a look-alike place. unipatch tolerates up to
  two mismatching context lines, which is right for a human at a terminal and wrong
  for code that patches a production server unattended.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

import unipatch

MAX_DIFF_BYTES = 1 << 20  # a fix diff is a few KiB; anything this large is not one of ours

_HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


class DiffError(ValueError):
    """The diff file itself is unusable (corrupt, truncated, hostile)."""


class DoesNotApply(ValueError):
    """The diff is fine but the source text is not what it expects."""


@dataclass(frozen=True)
class Hunk:
    old_lines: tuple[str, ...]
    new_lines: tuple[str, ...]


@dataclass(frozen=True)
class FilePatch:
    path: str  # relative to the directory that contains ``sglang/``
    text: str  # this file's part of the diff, headers included
    hunks: tuple[Hunk, ...]


def check_path(path: str) -> str:
    """Return the path if it names a file inside the sglang package, else raise."""
    if "\\" in path or "\0" in path:
        raise DiffError(f"path {path!r} has a backslash or NUL")
    pure = PurePosixPath(path)
    if pure.is_absolute():
        raise DiffError(f"path {path!r} is absolute")
    if any(part in ("..", ".", "") for part in path.split("/")):
        raise DiffError(f"path {path!r} is not a plain relative path")
    if pure.parts[0] != "sglang" or pure.suffix != ".py":
        raise DiffError(f"path {path!r} is not a Python file of the sglang package")
    return path


def _strip_prefix(header: str, prefix: str) -> str:
    name = header.split("\t", 1)[0].strip()
    if not name.startswith(prefix):
        raise DiffError(f"file header {header!r} does not start with {prefix!r}")
    return name[len(prefix) :]


def parse(diff_text: str) -> tuple[FilePatch, ...]:
    """Split a (possibly multi-file) unified diff into checked per-file patches."""
    if len(diff_text) > MAX_DIFF_BYTES:
        raise DiffError(f"diff is {len(diff_text)} bytes, more than {MAX_DIFF_BYTES}")
    lines = diff_text.splitlines(keepends=True)
    patches: list[FilePatch] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("--- "):
            if line.startswith(("+++ ", "@@")):
                raise DiffError(f"line {i + 1}: {line.rstrip()!r} outside a file section")
            i += 1  # free text before/between files ("diff --git", "index ...") is allowed
            continue
        if i + 1 >= len(lines) or not lines[i + 1].startswith("+++ "):
            raise DiffError(f"line {i + 1}: '---' header without '+++' header")
        old = _strip_prefix(line[4:], "a/")
        new = _strip_prefix(lines[i + 1][4:], "b/")
        if old != new:
            raise DiffError(f"line {i + 1}: renames are not supported ({old} -> {new})")
        path = check_path(new)
        start = i
        i += 2
        hunks: list[Hunk] = []
        while i < len(lines) and lines[i].startswith("@@"):
            i, hunk = _parse_hunk(lines, i)
            hunks.append(hunk)
        if not hunks:
            raise DiffError(f"{path}: file section has no hunks")
        patches.append(FilePatch(path, "".join(lines[start:i]), tuple(hunks)))
    if not patches:
        raise DiffError("no file sections ('--- a/...', '+++ b/...') found")
    paths = [p.path for p in patches]
    if len(set(paths)) != len(paths):
        raise DiffError("a file appears twice in one diff")
    return tuple(patches)


def _parse_hunk(lines: list[str], i: int) -> tuple[int, Hunk]:
    match = _HUNK_HEADER.match(lines[i])
    if match is None:
        raise DiffError(f"line {i + 1}: bad hunk header {lines[i].rstrip()!r}")
    old_count = int(match[2]) if match[2] is not None else 1
    new_count = int(match[4]) if match[4] is not None else 1
    old: list[str] = []
    new: list[str] = []
    i += 1
    while len(old) < old_count or len(new) < new_count:
        if i >= len(lines):
            raise DiffError("diff ends inside a hunk (truncated file?)")
        line = lines[i]
        tag, body = line[:1], line[1:]
        if tag == " ":
            old.append(body)
            new.append(body)
        elif tag == "-":
            old.append(body)
        elif tag == "+":
            new.append(body)
        elif tag != "\\":
            raise DiffError(f"line {i + 1}: unexpected {line.rstrip()!r} inside a hunk")
        i += 1
    if len(old) != old_count or len(new) != new_count:
        raise DiffError(f"line {i}: hunk line counts do not match its header")
    if i < len(lines) and lines[i].startswith("\\"):
        i += 1
    if old == new:
        raise DiffError(f"line {i}: hunk changes nothing")
    if not old or not new:
        raise DiffError(f"line {i}: hunk without context cannot be anchored")
    return i, Hunk(tuple(old), tuple(new))


def _count_block(text_lines: list[str], block: tuple[str, ...]) -> int:
    n = len(block)
    first = block[0]
    return sum(
        1
        for k in range(len(text_lines) - n + 1)
        if text_lines[k] == first and tuple(text_lines[k : k + n]) == block
    )


def apply(text: str, patch: FilePatch, *, reverse: bool = False) -> str:
    """Apply (or revert) one file's patch to ``text``; raise DoesNotApply if it can't."""
    text_lines = text.splitlines(keepends=True)
    for n, hunk in enumerate(patch.hunks, 1):
        expected = hunk.new_lines if reverse else hunk.old_lines
        found = _count_block(text_lines, expected)
        if found != 1:
            what = "not found" if found == 0 else f"found {found} times"
            raise DoesNotApply(f"{patch.path}: hunk #{n} {what}")
    try:
        return unipatch.apply_patch(text, patch.text, forwards=not reverse)
    except unipatch.PatchError as exc:  # unique anchors but still refused: say so
        raise DoesNotApply(f"{patch.path}: {exc}") from exc
