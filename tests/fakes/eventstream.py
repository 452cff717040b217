"""Encoder for the AWS binary event-stream framing (``application/vnd.amazon.eventstream``).

Message layout (all integers big-endian)::

    total_length:u32  headers_length:u32  prelude_crc:u32      # prelude_crc = CRC32(first 8 bytes)
    headers (name_len:u8 name type:u8 value...)*               # strings: type 7, value_len:u16 value
    payload
    message_crc:u32                                            # CRC32 of everything before it

Only what Bedrock streams use is implemented (string, bytes, bool, int32 header values). The
self-tests decode the output with botocore's own parser to prove the framing; ``decode_message``
reads back what ``encode_message`` wrote (for faults that rewrite a rendered stream).
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping
from typing import Any

HeaderValue = str | bytes | bool | int

_TRUE, _FALSE, _INT32, _BYTES, _STRING = 0, 1, 4, 6, 7


def _crc(data: bytes, seed: int = 0) -> int:
    return zlib.crc32(data, seed) & 0xFFFFFFFF


def encode_headers(headers: Mapping[str, HeaderValue]) -> bytes:
    """Header block bytes for ``headers`` in insertion order."""
    out = bytearray()
    for name, value in headers.items():
        raw_name = name.encode()
        out += struct.pack("!B", len(raw_name)) + raw_name
        if isinstance(value, bool):
            out += struct.pack("!B", _TRUE if value else _FALSE)
        elif isinstance(value, int):
            out += struct.pack("!Bi", _INT32, value)
        else:
            raw = value.encode() if isinstance(value, str) else value
            out += struct.pack("!BH", _STRING if isinstance(value, str) else _BYTES, len(raw)) + raw
    return bytes(out)


def encode_message(headers: Mapping[str, HeaderValue], payload: bytes, *, corrupt_crc: bool = False) -> bytes:
    """One complete event-stream message. ``corrupt_crc`` flips the message checksum."""
    header_bytes = encode_headers(headers)
    total = 12 + len(header_bytes) + len(payload) + 4
    prelude = struct.pack("!II", total, len(header_bytes))
    prelude += struct.pack("!I", _crc(prelude))
    body = prelude + header_bytes + payload
    crc = _crc(body) ^ (0xFFFFFFFF if corrupt_crc else 0)
    return body + struct.pack("!I", crc)


def decode_message(message: bytes) -> tuple[dict[str, HeaderValue], bytes]:
    """(headers, payload) of one message made by ``encode_message`` (checksums not verified)."""
    total, headers_length = struct.unpack("!II", message[:8])
    raw, position, headers = message[12 : 12 + headers_length], 0, {}
    while position < len(raw):
        name_length = raw[position]
        name = raw[position + 1 : position + 1 + name_length].decode()
        position += 1 + name_length
        kind = raw[position]
        position += 1
        value: HeaderValue
        if kind in (_TRUE, _FALSE):
            value = kind == _TRUE
        elif kind == _INT32:
            value = struct.unpack("!i", raw[position : position + 4])[0]
            position += 4
        else:
            length = struct.unpack("!H", raw[position : position + 2])[0]
            data = raw[position + 2 : position + 2 + length]
            value = data.decode() if kind == _STRING else data
            position += 2 + length
        headers[name] = value
    return headers, message[12 + headers_length : total - 4]


def event_message(event_type: str, payload: Mapping[str, Any]) -> bytes:
    """An ``:message-type: event`` message with a JSON payload."""
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, json.dumps(payload, separators=(",", ":")).encode())


def exception_message(exception_type: str, payload: Mapping[str, Any]) -> bytes:
    """An ``:message-type: exception`` message (modelled exception, e.g. ``throttlingException``)."""
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return encode_message(headers, json.dumps(payload, separators=(",", ":")).encode())
