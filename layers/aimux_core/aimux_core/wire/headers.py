"""HTTP header values built from client input must stay printable ASCII; the admin API's own headers.

``ADMIN_TOKEN_HEADER`` carries ``AIMUX_ADMIN_TOKEN`` (or ``Authorization: Bearer``); ``ADMIN_INTENT_HEADER``
marks a deliberate admin change, which a form posted by another site cannot send. The admin access rules
(``surfaces/admin_access.py``), ``aimux keys``/``aimux projects`` (``keys/remote.py``) and the dashboard's
proxy (``dashboard/proxy.py``) all name them from here.
"""

from __future__ import annotations

ADMIN_TOKEN_HEADER = "x-aimux-admin-token"
ADMIN_INTENT_HEADER = "x-aimux-admin"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that change nothing: they need no intent header."""


def header_safe(value: str) -> str:
    """``value`` as printable ASCII, other characters backslash-escaped.

    The route header and ``x-aimux-model`` carry the client's model name; a name with a non-Latin-1
    character would fail the answer with a 500, one with CR/LF would make the server drop the
    connection without any answer.
    """
    if value.isascii() and value.isprintable():
        return value
    return "".join(c if " " <= c <= "~" else c.encode("unicode_escape").decode("ascii") for c in value)
