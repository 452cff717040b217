"""HTTP header values built from client input must stay printable ASCII."""

from __future__ import annotations


def header_safe(value: str) -> str:
    """``value`` as printable ASCII, other characters backslash-escaped.

    The route header and ``x-aimux-model`` carry the client's model name; a name with a non-Latin-1
    character would fail the answer with a 500, one with CR/LF would make the server drop the
    connection without any answer.
    """
    if value.isascii() and value.isprintable():
        return value
    return "".join(c if " " <= c <= "~" else c.encode("unicode_escape").decode("ascii") for c in value)
