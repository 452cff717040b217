"""``multipart/form-data`` bodies (RFC 7578), for ``POST /v1/files``: parts by name, bytes as sent.

Small on purpose (the body is already read and capped by ``http.read_body``): split on the boundary,
read each part's ``Content-Disposition`` name (and filename), keep its bytes untouched. Anything that
does not follow the format is an ``InvalidRequest`` naming what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser

from ..errors import InvalidRequest


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None


def boundary_of(content_type: str) -> bytes:
    header = Message()
    header["content-type"] = content_type
    if header.get_content_type() != "multipart/form-data":
        raise InvalidRequest("content-type: send the file as multipart/form-data")
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary or len(boundary) > 200:
        raise InvalidRequest("content-type: multipart/form-data needs a boundary")
    return boundary.encode("latin-1")


def parse_form(body: bytes, content_type: str) -> dict[str, Part]:
    """The parts of ``body`` by field name (the first part of a repeated name wins)."""
    delimiter = b"--" + boundary_of(content_type)
    chunks = body.split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise InvalidRequest("body: not a complete multipart/form-data body")
    parts: dict[str, Part] = {}
    for chunk in chunks[1:-1]:
        if not chunk.startswith(b"\r\n"):
            raise InvalidRequest("body: malformed multipart part")
        head, separator, data = chunk[2:].partition(b"\r\n\r\n")
        if not separator or not data.endswith(b"\r\n"):
            raise InvalidRequest("body: malformed multipart part")
        headers = BytesHeaderParser().parsebytes(head + b"\r\n\r\n")
        disposition = Message()
        disposition["content-disposition"] = headers.get("content-disposition", "")
        name = disposition.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name:
            raise InvalidRequest("body: a multipart part has no name")
        filename = disposition.get_param("filename", header="content-disposition")
        part = Part(name, data[:-2], filename if isinstance(filename, str) else None, headers.get("content-type"))
        parts.setdefault(name, part)
    return parts
