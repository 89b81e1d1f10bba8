"""Our own bytecode cache for patched modules, the way pytest caches rewritten tests.

Compiling a patched module costs milliseconds per module in every process; reading
its bytecode costs a tenth of that. The cache file sits beside SGLang's own, under a
name of ours (``__pycache__/<module>.cpython-311.sglang-spec-patches-<version>.pyc``),
so SGLang's ``.pyc`` is never read, written or shadowed. Its header is the standard
hash-based one (magic, flags, 8-byte hash), the hash taken over the source path and
the final patched text: whatever changes the text (SGLang, a diff, the engine, the
disabled fixes) misses the cache. Written atomically; a read-only tree, a full disk or
``PYTHONDONTWRITEBYTECODE`` only mean it is not written.
"""

from __future__ import annotations

import importlib.util
import marshal
import os
import sys

from . import __version__

_CHECKED_HASH = (0b11).to_bytes(4, "little")  # flags word of a checked hash-based .pyc


def cache_path(source_path: str) -> str | None:
    """Our cache file for ``source_path``; None where Python keeps no bytecode cache."""
    try:
        sglang_pyc = importlib.util.cache_from_source(source_path)
    except (NotImplementedError, ValueError):
        return None
    stem, ext = os.path.splitext(sglang_pyc)
    return f"{stem}.sglang-spec-patches-{__version__}{ext}"


def key(source_path: str, text: str) -> bytes:
    """The cache key of a patched text: 8 bytes, taken when the plan is made (hashing the
    text is the dearest part of a lookup, so a plan read from its cache carries its keys)."""
    return importlib.util.source_hash(source_path.encode("utf-8", "surrogateescape") + b"\0" + text.encode("utf-8"))


_UNSET = object()


def load(source_path: str, text_key: bytes, path=_UNSET):
    """The cached code object for the patched text with this key, or None. ``path``:
    ``cache_path(source_path)``, when the caller has it already."""
    path = cache_path(source_path) if path is _UNSET else path
    if path is None:
        return None
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    header = importlib.util.MAGIC_NUMBER + _CHECKED_HASH + text_key
    if data[:16] != header:
        return None
    try:
        return marshal.loads(data[16:])
    except (EOFError, ValueError, TypeError):  # truncated or corrupt: compile again
        return None


def store(source_path: str, text_key: bytes, code, path=_UNSET) -> bool:
    """Write the cache file atomically; False (and nothing left behind) if it cannot be."""
    path = cache_path(source_path) if path is _UNSET else path
    if path is None or sys.dont_write_bytecode:
        return False
    return write_cache_file(path, importlib.util.MAGIC_NUMBER + _CHECKED_HASH + text_key + marshal.dumps(code))


def write_cache_file(path: str, data: bytes) -> bool:
    """Write one of our cache files (bytecode, plan) atomically: a temporary file of this
    process, then a rename. False, and nothing left behind, if it cannot be written."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with open(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        return False
    return True
