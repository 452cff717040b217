"""Virtual API keys: who may call the gateway, with which models and limits.

record.py    the key format (``amx-`` + 256 bits), SHA-256 hashing, ``ApiKeyRecord`` <-> items, ids
lookup.py    ``LookupCache``: bounded per-process cache of hash -> record / unknown
ring.py      ``KeyRing.authenticate``, ``check_model``, ``authenticate_request`` (what surfaces call)
admin.py     create, list, show, disable, enable, rotate, delete (admin routes and ``aimux keys``)
validate.py  the admin input rules
mode.py      ``AIMUX_AUTH`` (``auth_mode``, ``decide_at_start``)
remote.py    ``aimux keys`` backends: a running local gateway's admin routes, or the DynamoDB table
"""

from ..settings import AuthMode
from .admin import (
    KeyConflict,
    create_key,
    delete_key,
    describe_key,
    disable_key,
    enable_key,
    list_keys,
    rotate_key,
    show_key,
)
from .mode import AUTH_OFF_NOTICE, auth_mode, store_has_keys
from .record import ApiKeyRecord, generate_key, hash_key
from .ring import KeyRing, authenticate_request, check_model

__all__ = [
    "AUTH_OFF_NOTICE",
    "ApiKeyRecord",
    "AuthMode",
    "KeyConflict",
    "KeyRing",
    "auth_mode",
    "authenticate_request",
    "check_model",
    "create_key",
    "delete_key",
    "describe_key",
    "disable_key",
    "enable_key",
    "generate_key",
    "hash_key",
    "list_keys",
    "rotate_key",
    "show_key",
    "store_has_keys",
]
