"""What the release workflow checks before it builds, and the notes it publishes.

    python ci/release.py check TAG [--repository OWNER/NAME]
        the tag is ``v`` + the package version (``sglang_spec_patches.__version__``, the
        one place it lives), CHANGELOG.md has a section for that version that is not
        marked unreleased, and the project URLs point at the repository being released
    python ci/release.py notes VERSION
        that version's CHANGELOG section, as the release's text

Exit 0 when fine, 2 with one line per problem otherwise. Standard library only: it runs
before anything is installed.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_HEADING = re.compile(r"^## (\S+)(.*)$", re.M)


def package_version(repo: Path = REPO) -> str:
    text = (repo / "sglang_spec_patches" / "__init__.py").read_text(encoding="utf-8")
    found = re.findall(r'^__version__ = "([^"]+)"$', text, re.M)
    if len(found) != 1:
        raise SystemExit("sglang_spec_patches/__init__.py: expected one __version__ line")
    return found[0]


def changelog_section(version: str, repo: Path = REPO) -> tuple[str, str] | None:
    """(heading's rest, body) of ``## <version>`` in CHANGELOG.md, or None."""
    text = (repo / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = list(_HEADING.finditer(text))
    for i, m in enumerate(headings):
        if m[1] == version:
            end = headings[i + 1].start() if i + 1 < len(headings) else len(text)
            return m[2].strip(), text[m.end():end].strip() + "\n"
    return None


def problems(tag: str, repository: str | None = None, repo: Path = REPO) -> list[str]:
    version = package_version(repo)
    found = []
    if tag != f"v{version}":
        found.append(f"tag {tag!r} does not match the package version {version!r} (expected 'v{version}')")
    section = changelog_section(version, repo)
    if section is None:
        found.append(f"CHANGELOG.md has no '## {version}' section")
    elif "unreleased" in section[0].lower():
        found.append(f"CHANGELOG.md still marks {version} unreleased: '## {version} {section[0]}'")
    elif not section[1].strip():
        found.append(f"CHANGELOG.md's {version} section is empty")
    if repository:
        pyproject = (repo / "pyproject.toml").read_text(encoding="utf-8")
        urls = re.findall(r'^\w+ = "(https://[^"]+)"$', pyproject, re.M)
        wrong = [u for u in urls if not u.startswith(f"https://github.com/{repository}")]
        if not urls or wrong:
            found.append(f"pyproject.toml project URLs do not point at {repository}: {wrong or 'none found'}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    check = sub.add_parser("check")
    check.add_argument("tag")
    check.add_argument("--repository", help="OWNER/NAME the release is published from")
    notes = sub.add_parser("notes")
    notes.add_argument("version")
    args = parser.parse_args(argv)
    if args.cmd == "check":
        found = problems(args.tag, args.repository)
        for line in found:
            print(f"release: {line}", file=sys.stderr)
        return 2 if found else 0
    section = changelog_section(args.version)
    if section is None:
        print(f"release: CHANGELOG.md has no '## {args.version}' section", file=sys.stderr)
        return 2
    sys.stdout.write(section[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
