"""Messages between the grader and the cell runner in a sandbox: one JSON object per frame.

A frame is the payload's length in ASCII digits, a newline, then the payload (UTF-8 JSON):

    b"27\\n" + b'{"seq": 0, "status": "ready"}'

The runner side (``read_frame``/``write_frame``) trusts the grader. The grader side
(``FrameReader``) trusts nothing: a frame longer than its cap, a header that is not a number,
JSON nested too deep or that is not an object all end the conversation with ``FrameError``.
"""
from __future__ import annotations

from json import dumps as _dumps
from json import loads as _loads

from nnkit.grading.untrusted import UntrustedData, parse_json

MAX_HEADER = 12
# json's functions are bound at import, before any learner code runs next to the runner: a
# learner who patches json.dumps cannot cut their kernel off from the grader.


class FrameError(ValueError):
    """The other side sent something that is not a well-formed frame."""


class KernelDied(RuntimeError):
    """The runner stopped answering: it exited, was killed, or broke the protocol."""


def encode_frame(message: dict) -> bytes:
    payload = _dumps(message, allow_nan=True).encode("utf-8", "surrogatepass")
    return b"%d\n" % len(payload) + payload


def write_frame(stream, message: dict) -> None:
    """Write one frame to a binary stream (the runner's reply pipe)."""
    data = encode_frame(message)
    while data:
        written = stream.write(data)
        data = data[written:]


def read_frame(stream) -> dict | None:
    """Read one frame from a binary stream; None at end of input (the runner's command pipe)."""
    header = b""
    while not header.endswith(b"\n"):
        byte = stream.read(1)
        if not byte:
            return None
        header += byte
    size = int(header)
    payload = b""
    while len(payload) < size:
        chunk = stream.read(size - len(payload))
        if not chunk:
            return None
        payload += chunk
    return _loads(payload.decode("utf-8", "surrogatepass"))


class FrameReader:
    """Collects bytes from a hostile peer and cuts them into messages.

    ``feed(data)`` returns the complete messages found so far; it raises ``FrameError`` as soon
    as the stream breaks the format or a frame would exceed ``max_bytes``.
    """

    def __init__(self, max_bytes: int, max_depth: int = 64):
        self.max_bytes, self.max_depth = max_bytes, max_depth
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[dict]:
        self.buffer += data
        messages = []
        while True:
            newline = self.buffer.find(b"\n", 0, MAX_HEADER + 1)
            if newline < 0:
                if len(self.buffer) > MAX_HEADER:
                    raise FrameError("a frame header is not a length")
                return messages
            header = bytes(self.buffer[:newline])
            if not header.isdigit():
                raise FrameError("a frame header is not a length")
            size = int(header)
            if size > self.max_bytes:
                raise FrameError(f"a message of {size} bytes is larger than allowed")
            end = newline + 1 + size
            if len(self.buffer) < end:
                return messages
            payload = bytes(self.buffer[newline + 1:end])
            del self.buffer[:end]
            try:
                message = parse_json(payload.decode("utf-8", "replace"), self.max_depth)
            except UntrustedData as err:
                raise FrameError(str(err)) from err
            if not isinstance(message, dict):
                raise FrameError("a message is not a JSON object")
            messages.append(message)
