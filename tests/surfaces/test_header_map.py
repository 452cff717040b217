"""``surfaces/http.header_map`` and ``header_values``: the answers of Starlette's ``Headers.get`` / ``getlist``,
read from one dictionary built once per request."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import Headers
from starlette.requests import Request

from aimux_core.surfaces.http import header_map, header_values

NAMES = st.sampled_from([b"x-api-key", b"anthropic-beta", b"authorization", b"content-length", b"x-aimux-cache"])
VALUES = st.binary(max_size=12).filter(lambda value: b"\r" not in value and b"\n" not in value)


def request_with(raw: list[tuple[bytes, bytes]]) -> Request:
    return Request({"type": "http", "method": "POST", "path": "/v1/messages", "headers": raw})


@given(st.lists(st.tuples(NAMES, VALUES), max_size=8))
def test_the_map_answers_as_starlettes_headers(raw: list[tuple[bytes, bytes]]) -> None:
    request = request_with(raw)
    reference = Headers(raw=raw)
    found = header_map(request)
    for name in ("x-api-key", "anthropic-beta", "authorization", "content-length", "x-aimux-cache", "absent"):
        assert found.get(name) == reference.get(name)
        assert (name in found) == (name in reference)
        assert header_values(request, name.encode()) == reference.getlist(name)
    assert header_map(request) is found  # built once per request


def test_a_repeated_header_keeps_its_first_value_for_get_and_all_for_the_list() -> None:
    request = request_with([(b"anthropic-beta", b"a,b"), (b"x-api-key", b"k1"), (b"anthropic-beta", b"c")])
    assert header_map(request)["anthropic-beta"] == "a,b"
    assert header_values(request, b"anthropic-beta") == ["a,b", "c"]
