"""Downloading files once, checking them, and keeping them in a cache folder.

``download(url, sha256=...)`` returns the path of a verified local copy:

1. if the cache already holds the file and its SHA-256 matches, nothing is fetched;
2. otherwise it is streamed into a temporary file in the cache folder, with a
   progress bar, while its SHA-256 is computed;
3. a wrong checksum deletes the temporary file and raises :class:`ChecksumError`;
4. a good file is moved into place with an atomic rename, so a half-written
   file never looks like a finished one.

The cache folder is ``cache_dir=``, else ``$NNKIT_DATA``, else ``~/.cache/nnkit``.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

_CHUNK = 1 << 16


class ChecksumError(ValueError):
    """A downloaded or cached file does not have the expected SHA-256."""


class DownloadError(OSError):
    """A file could not be fetched."""


def get_cache_dir(path=None) -> Path:
    """The folder files are cached in: ``path``, else ``$NNKIT_DATA``, else ``~/.cache/nnkit``."""
    if path is None:
        path = os.environ.get("NNKIT_DATA") or Path.home() / ".cache" / "nnkit"
    return Path(path).expanduser()


def sha256sum(path) -> str:
    """The SHA-256 of a file, as 64 hex digits."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _progress_bar(total, desc, enabled):
    from tqdm.auto import tqdm  # noqa: PLC0415 - a widget in Jupyter, text in a terminal

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                disable=not enabled, leave=False)


def download(url: str, path=None, sha256: str | None = None, cache_dir=None,
             progress: bool = True, timeout: float = 60.0) -> Path:
    """Fetch ``url`` into the cache (unless a verified copy is there) and return its local path.

    Parameters
    ----------
    url: ``http(s)://`` or ``file://`` address
    path: file name (or relative path) inside the cache folder; default: the URL's last part
    sha256: expected checksum (64 hex digits); ``None`` skips verification
    cache_dir: cache folder (see :func:`get_cache_dir`)
    progress: show a progress bar (``tqdm.auto``)
    """
    folder = get_cache_dir(cache_dir)
    name = path if path is not None else Path(urllib.request.urlparse(url).path).name
    if not name:
        raise ValueError(f"download: cannot tell a file name from {url!r}; pass path=")
    target = folder / name
    expected = sha256.lower() if sha256 else None

    if target.exists():
        if expected is None or sha256sum(target) == expected:
            return target
        # a stale or damaged copy: fetch it again below

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        h = hashlib.sha256()
        try:
            response = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 - URLs come from the caller
        except (urllib.error.URLError, OSError) as err:
            raise DownloadError(
                f"could not download {url}: {err}. If this machine is offline, put the file at "
                f"{target} yourself (or set NNKIT_DATA to a folder that holds it)."
            ) from err
        with response, os.fdopen(fd, "wb") as out:
            fd = None
            size = response.headers.get("Content-Length")
            with _progress_bar(int(size) if size else None, target.name, progress) as bar:
                for block in iter(lambda: response.read(_CHUNK), b""):
                    out.write(block)
                    h.update(block)
                    bar.update(len(block))
        actual = h.hexdigest()
        if expected is not None and actual != expected:
            raise ChecksumError(
                f"checksum mismatch for {url}: expected sha256 {expected}, got {actual}. "
                "The download is corrupt or the file changed upstream; nothing was saved."
            )
        os.replace(tmp_name, target)
    finally:
        if fd is not None:
            os.close(fd)
        if os.path.exists(tmp_name):
            os.remove(tmp_name)
    return target
