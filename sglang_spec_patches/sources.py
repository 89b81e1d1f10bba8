"""SGLang's source files, read the way Python reads them and written back the same way.

Python decodes a module by its PEP 263 coding cookie (or a UTF-8 byte-order mark, else
UTF-8) and reads every line ending (CRLF, CR, LF) as LF. The engine matches its diffs
on that text, so a file saved with CRLF or in latin-1 is decided like the release's
own, and the hook compiles that text, as Python would compile the file. Bake writes a
patched text back in the file's own form (encoding, mark, line ending): reading the
baked file gives the hook's text again, and the lines no fix touched keep their bytes.

A file that exists but that Python could not read as source (bytes that do not decode,
an unknown encoding, a directory, no permission, a symlink loop) raises
``UnreadableSource`` with a one-line reason: the engine declines the fixes that read it,
and only those.
"""

from __future__ import annotations

import io
import tokenize
from dataclasses import dataclass


class UnreadableSource(Exception):
    """A file that exists but cannot be read as Python source. One line, with the path."""

    def __init__(self, relpath: str, why: str):
        super().__init__(f"{relpath} cannot be read as Python source: {why}")
        self.relpath, self.why = relpath, why


@dataclass(frozen=True)
class SourceForm:
    """How a file stores its text."""

    encoding: str = "utf-8"  # the codec Python decodes it with; "utf-8-sig": with a BOM
    newline: str | None = "\n"  # its line ending; None when it mixes them
    faithful: bool = True  # its own text, written back in this form, gives its bytes back

    def unwritable(self) -> str | None:
        """Why a patched text could not be written back in this form (None: it can)."""
        if self.newline is None:
            return "it mixes line endings (CRLF, CR, LF), which a patched copy could not keep"
        if not self.faithful:
            return f"its bytes do not survive decoding and encoding as {self.encoding}"
        return None


PLAIN = SourceForm()


@dataclass(frozen=True)
class Source:
    data: bytes  # the file's bytes
    text: str  # as Python reads it: decoded, every line ending LF
    form: SourceForm


def decode(data: bytes, relpath: str) -> Source:
    """The text Python compiles for these bytes, and their form. Raises UnreadableSource."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:  # an unknown encoding, a bad cookie, a BOM with another cookie
        if data.startswith(b"\xef\xbb\xbf") and exc.msg.startswith("encoding problem"):
            raise UnreadableSource(relpath, "a UTF-8 byte-order mark and a coding cookie for another "
                                            "encoding") from None
        if not exc.msg.startswith("invalid or missing encoding declaration"):
            raise UnreadableSource(relpath, exc.msg) from None
        encoding = "utf-8"  # no cookie, and the first lines are not UTF-8: say which byte
    try:
        raw = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UnreadableSource(relpath, f"byte 0x{data[exc.start]:02x} on line {line} is not valid "
                                        f"{encoding} ({exc.reason})") from None
    except (LookupError, ValueError) as exc:  # a codec that is no text encoding
        raise UnreadableSource(relpath, f"{encoding}: {exc}") from None
    if encoding == "utf-8" and "\r" not in raw:  # nearly every file: nothing to translate
        return Source(data, raw, PLAIN)
    crlf = raw.count("\r\n")
    counts = {"\r\n": crlf, "\r": raw.count("\r") - crlf, "\n": raw.count("\n") - crlf}
    endings = [ending for ending, n in counts.items() if n]
    newline = endings[0] if len(endings) == 1 else "\n" if not endings else None
    text = raw.replace("\r\n", "\n").replace("\r", "\n") if "\r" in raw else raw
    form = SourceForm(encoding, newline)
    if newline is not None:
        try:
            faithful = encode(text, form) == data
        except UnicodeEncodeError:
            faithful = False
        form = SourceForm(encoding, newline, faithful)
    return Source(data, text, form)


def encode(text: str, form: SourceForm) -> bytes:
    """``text`` (LF line endings) as bytes of a file in ``form``; raises
    UnicodeEncodeError where the encoding lacks a character (a caller checks first)."""
    if form.newline not in (None, "\n"):
        text = text.replace("\n", form.newline)
    return text.encode(form.encoding)


def read(path, relpath: str) -> Source | None:
    """The file at ``path`` (named ``relpath`` in messages); None when it does not exist.
    Raises UnreadableSource for anything else that stops Python reading it."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return None
    except OSError as exc:  # a directory, no permission, a symlink loop, a parent that is a file
        raise UnreadableSource(relpath, exc.strerror or type(exc).__name__) from None
    return decode(data, relpath)
