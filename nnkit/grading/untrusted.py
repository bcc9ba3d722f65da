"""Reading what learners hand in, and what comes back from a sandbox, without trusting it.

- ``read_regular_file``: open without following a symbolic link and without blocking on a
  FIFO, accept only a regular file, never read more than a cap;
- ``parse_json``: JSON with a cap on nesting (Python's parser recurses and can be made to
  overflow), lone surrogates replaced;
- ``clean_text``: text safe to show in feedback, a CSV cell or a terminal: no control
  characters, ANSI escape sequences, Unicode line/paragraph separators or bidirectional
  overrides, and capped in length.
"""
from __future__ import annotations

import json
import os
import re
import stat


class UntrustedData(ValueError):
    """Input that cannot be accepted; the message says why, for the learner's feedback."""


def read_regular_file(path, max_bytes: int) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``max_bytes``; else UntrustedData."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise UntrustedData("the submission is a symbolic link, not a notebook file")
        fd = os.open(path, flags)
    except FileNotFoundError as err:
        raise UntrustedData("missing file: no notebook at this path") from err
    except OSError as err:
        raise UntrustedData(f"the file cannot be opened ({err.strerror})") from err
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = ("a FIFO" if stat.S_ISFIFO(info.st_mode) else "a folder" if stat.S_ISDIR(info.st_mode)
                    else "a device or socket")
            raise UntrustedData(f"the submission is {kind}, not a regular notebook file")
        if info.st_size > max_bytes:
            raise UntrustedData(f"the notebook is larger than {max_bytes // 2**20} MB")
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:  # the file grew while it was read
            raise UntrustedData(f"the notebook is larger than {max_bytes // 2**20} MB")
        return b"".join(chunks)
    finally:
        os.close(fd)


MAX_CONTAINERS = 2_000_000  # arrays and objects in one JSON text: bounds the parser's memory


def nesting_depth(value, limit: int) -> int:
    """How deep lists and dicts nest in the parsed ``value`` (a scalar is 0), counting no
    further than ``limit + 1``. A loop with its own stack, so no input can exhaust Python's."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            depth += 1
            deepest = max(deepest, depth)
            if depth > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth) for child in children if isinstance(child, (list, dict)))
    return deepest


_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # how JSON writes one: \ud800 .. \udfff


def _replace_surrogates(value):
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_replace_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()}
    return value


def parse_json(text: str, max_depth: int = 64):
    """``json.loads`` for untrusted text: nesting capped, lone surrogates become U+FFFD.

    Linear in the text's length whatever it holds. The number of brackets is capped first
    (``str.count`` runs at C speed), so a text of millions of tiny arrays cannot make the
    parser allocate gigabytes; Python's parser raises RecursionError past ~1000 levels, and
    the depth of what it returns is then checked without recursion, before anything recursive
    (the surrogate replacement here, the callers' walks) touches it.
    """
    if text.count("[") + text.count("{") > MAX_CONTAINERS:
        raise UntrustedData(f"the JSON holds more than {MAX_CONTAINERS:,} arrays and objects")
    try:
        value = json.loads(text)
    except RecursionError:
        raise UntrustedData(f"the JSON is nested deeper than {max_depth} levels") from None
    except ValueError as err:
        raise UntrustedData(f"broken JSON: {str(err)[:120]}") from None
    if nesting_depth(value, max_depth) > max_depth:
        raise UntrustedData(f"the JSON is nested deeper than {max_depth} levels")
    if _SURROGATE.search(text) or _SURROGATE_ESCAPE.search(text):
        value = _replace_surrogates(value)
    return value


# C0 and C1 controls (tab and newline too: feedback lines are single lines), DEL, the Unicode
# line and paragraph separators, and the bidirectional embedding/override/isolate controls.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def clean_text(text, limit: int = 300) -> str:
    """``text`` as one safe printable line of at most ``limit`` characters."""
    text = _SURROGATE.sub("\ufffd", str(text))
    text = _UNSAFE.sub(" ", _ANSI.sub("", text))
    text = re.sub(r" {2,}", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"
