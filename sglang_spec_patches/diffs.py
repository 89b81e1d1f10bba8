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

Re-anchoring (``apply_anchored``) is the one bounded exception, for trees that carry
someone else's edits next to ours: a hunk whose exact context is missing is retried
with its outer context lines trimmed, and accepted only where the trimmed block occurs
once in the whole file, inside one function (from the syntax tree), the result
compiles, and every name the added lines load is bound in that function, the module
or the builtins. The caller adds the fix's own semantic check on the result.
"""

from __future__ import annotations

import ast
import builtins
import itertools
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

import unipatch

MAX_DIFF_BYTES = 1 << 20  # a fix diff is a few KiB; anything this large is not one of ours
MAX_FOREIGN_LINES = 8  # re-anchoring: most lines someone else may have put where we insert

_HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


class DiffError(ValueError):
    """The diff file itself is unusable (corrupt, truncated, hostile)."""


class DoesNotApply(ValueError):
    """The diff is fine but the source text is not what it expects."""


@dataclass(frozen=True)
class Hunk:
    old_lines: tuple[str, ...]
    new_lines: tuple[str, ...]
    tagged: tuple[tuple[str, str], ...] = ()  # (" " | "-" | "+", line) in diff order


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
    tagged: list[tuple[str, str]] = []
    i += 1
    while len(old) < old_count or len(new) < new_count:
        if i >= len(lines):
            raise DiffError("diff ends inside a hunk (truncated file?)")
        line = lines[i]
        tag, body = line[:1], line[1:]
        if tag in " -+":
            tagged.append((tag, body))
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
    return i, Hunk(tuple(old), tuple(new), tuple(tagged))


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


# --- bounded re-anchoring -------------------------------------------------------------


def _starts(text_lines: list[str], block: tuple[str, ...]) -> list[int]:
    n = len(block)
    return [k for k in range(len(text_lines) - n + 1)
            if text_lines[k] == block[0] and tuple(text_lines[k : k + n]) == block]


def _has_word(line: str) -> bool:
    return re.search(r"[A-Za-z_]", line) is not None


def _trimmed(hunk: Hunk) -> list[tuple[tuple[tuple[str, str], ...], tuple[str, ...]]]:
    """The hunk with some of its outer context lines dropped, most context kept first.

    Only context before the first and after the last change is dropped (never a changed
    line, never context between changes), and at least one kept context line next to
    the change has a word in it, so the change point stays pinned to real code.
    """
    tagged = hunk.tagged
    lead = next(i for i, (tag, _) in enumerate(tagged) if tag != " ")
    trail = next(i for i, (tag, _) in enumerate(reversed(tagged)) if tag != " ")
    out = []
    for a in range(lead + 1):
        for b in range(trail + 1):
            if a == b == 0:
                continue
            kept = tagged[a : len(tagged) - b]
            context = kept[: lead - a] + kept[len(kept) - (trail - b) :]
            if not any(_has_word(line) for _, line in context):
                continue
            dropped = tagged[:a] + tagged[len(tagged) - b :]
            out.append((a + b, kept, tuple(line.strip() for _, line in dropped if line.strip())))
    out.sort(key=lambda w: w[0])
    return [(kept, dropped) for _, kept, dropped in out]


def _functions(tree: ast.AST) -> list[tuple[int, int, str, ast.AST]]:
    """(first line, last line, qualified name, node) of every function in the module."""
    found = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                if not isinstance(child, ast.ClassDef):
                    found.append((child.lineno, child.end_lineno, name, child))
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def _enclosing(functions, first: int, last: int):
    inside = [f for f in functions if f[0] <= first and last <= f[1]]
    return min(inside, key=lambda f: f[1] - f[0], default=None)


def _bindings(node: ast.AST, module_level: bool) -> dict[str, int]:
    """Name -> first line it is bound on, inside a function (or at module level)."""
    bound: dict[str, int] = {}

    def bind(name: str, line: int) -> None:
        bound[name] = min(line, bound.get(name, line))

    def walk(n: ast.AST) -> None:
        for child in ast.iter_child_nodes(n):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bind(child.name, child.lineno)
                if module_level:
                    continue  # a function's own names are not the module's
            if isinstance(child, ast.Name) and isinstance(child.ctx, (ast.Store, ast.Del)):
                bind(child.id, child.lineno)
            elif isinstance(child, ast.arg):
                bind(child.arg, child.lineno)
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                for alias in child.names:
                    bind((alias.asname or alias.name).split(".")[0], child.lineno)
            elif isinstance(child, ast.ExceptHandler) and child.name:
                bind(child.name, child.lineno)
            elif isinstance(child, (ast.Global, ast.Nonlocal)):
                for name in child.names:
                    bind(name, child.lineno)
            walk(child)

    walk(node)
    return bound


def _unbound_names(tree: ast.AST, added: set[int]) -> list[str]:
    """Names (and first-level attributes of names) on the added lines that nothing binds.

    A name counts as bound in the function holding the line (or one around it) when it
    is bound there on or before that line, or at module level, or is a builtin. An
    attribute of a local (``self.attr``) counts when ``attr`` is used somewhere off the
    added lines; attributes of modules are not judged.
    """
    functions = _functions(tree)
    module = _bindings(tree, module_level=True)
    attrs_elsewhere = {n.attr for n in ast.walk(tree)
                       if isinstance(n, ast.Attribute) and n.lineno not in added}
    missing: list[str] = []
    for n in ast.walk(tree):
        if getattr(n, "lineno", None) not in added:
            continue
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            line, ok = n.lineno, n.id in module or hasattr(builtins, n.id)
            for first, last, _, fn in functions:
                if not ok and first <= line <= last:
                    ok = _bindings(fn, module_level=False).get(n.id, line + 1) <= line
            if not ok:
                missing.append(n.id)
        elif (isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
              and n.value.id not in module and n.attr not in attrs_elsewhere):
            missing.append(f"{n.value.id}.{n.attr}")
    return sorted(set(missing))


def _with_own_context(text_lines, start, kept, own_side):
    """The trimmed hunk with as many context lines before as after its change, taken from
    the text itself: GNU patch (and unipatch) read a hunk with less context on one side
    as anchored at the start or end of the file."""
    lead = next(i for i, (tag, _) in enumerate(kept) if tag != " ")
    trail = next(i for i, (tag, _) in enumerate(reversed(kept)) if tag != " ")
    core = kept[lead : len(kept) - trail]
    core_start = start + lead
    core_end = core_start + sum(tag in (" ", own_side) for tag, _ in core)
    width = min(max(lead, trail), core_start, len(text_lines) - core_end)
    before = tuple((" ", line) for line in text_lines[core_start - width : core_start])
    after = tuple((" ", line) for line in text_lines[core_end : core_end + width])
    return core_start - width, before + core + after


def apply_anchored(text: str, patch: FilePatch, *, reverse: bool = False) -> tuple[str, tuple[str, ...]]:
    """``apply``, but a hunk whose exact context is missing is re-anchored (bounded).

    Every trimmed form of the hunk that occurs once in the file, inside one function,
    is a candidate place. Candidates that put the change in the same place agree; where
    they disagree, only the places that pass the checks below count, and more than one
    such place (or none) is refused. Returns the new text and one note per re-anchored
    hunk (none when every hunk matched exactly: then the text is ``apply``'s). Raises
    DoesNotApply.
    """
    own_side = "+" if reverse else "-"
    if any(tag == own_side and line not in text for hunk in patch.hunks for tag, line in hunk.tagged):
        # the lines this diff changes are not all there: nothing to anchor (a cheap
        # substring test first, so trees that merely lack the fix cost no parse)
        raise DoesNotApply(f"{patch.path}: a line the diff changes is absent")
    try:
        return apply(text, patch, reverse=reverse), ()
    except DoesNotApply:
        pass
    text_lines = text.splitlines(keepends=True)
    if any(tag == own_side and line not in text_lines for hunk in patch.hunks for tag, line in hunk.tagged):
        raise DoesNotApply(f"{patch.path}: a line the diff changes is absent")
    try:
        functions = _functions(ast.parse(text))
    except SyntaxError as exc:
        raise DoesNotApply(f"{patch.path}: not valid Python, not re-anchored ({exc.msg})") from exc
    choices: list[list[tuple[int, tuple[tuple[str, str], ...], str | None]]] = []
    for n, hunk in enumerate(patch.hunks, 1):
        starts = _starts(text_lines, hunk.new_lines if reverse else hunk.old_lines)
        if len(starts) > 1:
            raise DoesNotApply(f"{patch.path}: hunk #{n} found {len(starts)} times")
        if starts:
            choices.append([(starts[0], hunk.tagged, None)])
            continue
        by_place: dict[int, tuple[int, tuple[tuple[str, str], ...], str]] = {}
        for kept, dropped in _trimmed(hunk):
            starts = _starts(text_lines, tuple(line for tag, line in kept if tag in (" ", own_side)))
            if len(starts) != 1:
                continue
            function = _enclosing(functions, starts[0] + 1, starts[0] + sum(t != {"+": "-", "-": "+"}[own_side] for t, _ in kept))
            if function is None:
                continue
            start, tagged = _with_own_context(text_lines, starts[0], kept, own_side)
            place = start + next(i for i, (tag, _) in enumerate(tagged) if tag != " ")
            trimmed = ", ".join(repr(line) for line in dropped) or "blank lines"
            by_place.setdefault(place, (start, tagged, f"hunk #{n} re-anchored in {function[2]}() at line "
                                                        f"{starts[0] + 1}, context trimmed: {trimmed}"))
        if not by_place:
            raise DoesNotApply(f"{patch.path}: hunk #{n} not found, not even with its outer context trimmed")
        first, last = min(by_place), max(by_place)
        own = {line for tag, line in hunk.tagged if tag in (" ", own_side)}
        if (last - first <= MAX_FOREIGN_LINES and _enclosing(functions, first + 1, last + 1) is not None
                and not own & set(text_lines[first:last])):
            # leading and trailing context found on either side of foreign lines that
            # were inserted where we insert: ours goes right after the leading context
            by_place = {first: by_place[first]}
        choices.append(list(by_place.values()))
    results: dict[str, tuple[str, ...]] = {}
    errors: list[str] = []
    for placed in itertools.islice(itertools.product(*choices), 16):
        try:
            result = _place(text, patch, list(placed), reverse)
        except DoesNotApply as exc:
            errors.append(str(exc))
            continue
        results.setdefault(result, tuple(note for _, _, note in placed if note))
    if len(results) == 1:
        return next(iter(results.items()))
    if results:
        raise DoesNotApply(f"{patch.path}: re-anchoring finds {len(results)} different places; none is taken")
    raise DoesNotApply(errors[0])


def _place(text: str, patch: FilePatch, placed: list, reverse: bool) -> str:
    """Apply the hunks at the given places with unipatch; the result must compile and,
    going forward, every name a re-anchored hunk adds must be bound where it lands."""
    placed = sorted(placed, key=lambda p: p[0])
    if any(b[0] <= a[0] + len(a[1]) - 1 for a, b in zip(placed, placed[1:])):
        raise DoesNotApply(f"{patch.path}: re-anchored hunks overlap")
    rebuilt = [f"--- a/{patch.path}\n", f"+++ b/{patch.path}\n"]
    added: set[int] = set()
    delta = 0
    for start, tagged, note in placed:
        if any(not line.endswith("\n") for _, line in tagged):
            raise DoesNotApply(f"{patch.path}: a re-anchored hunk at the end of the file")
        n_old = sum(tag != "+" for tag, _ in tagged)
        n_new = sum(tag != "-" for tag, _ in tagged)
        old_start = start + 1 - (delta if reverse else 0)
        new_start = old_start + delta
        delta += n_new - n_old
        rebuilt.append(f"@@ -{old_start},{n_old} +{new_start},{n_new} @@\n")
        rebuilt += [tag + line for tag, line in tagged]
        line_no = new_start
        for tag, _ in tagged:
            if tag == "+" and note is not None:
                added.add(line_no)
            line_no += tag != "-"
    try:
        result = unipatch.apply_patch(text, "".join(rebuilt), forwards=not reverse)
        compile(result, patch.path, "exec", dont_inherit=True)
    except unipatch.PatchError as exc:
        raise DoesNotApply(f"{patch.path}: {exc}") from exc
    except SyntaxError as exc:
        raise DoesNotApply(f"{patch.path}: re-anchored text does not compile: {exc.msg} (line {exc.lineno})") from exc
    if not reverse:
        unbound = _unbound_names(ast.parse(result), added)
        if unbound:
            raise DoesNotApply(f"{patch.path}: re-anchored hunk would load names not bound there: {', '.join(unbound)}")
    return result
