"""Fixtures for the state tests: a fake clock, and every ``Store`` implementation to run them against.

``store`` is parametrized over ``STORE_FIXTURES``: each name is a fixture that yields a fresh store
driven by the ``clock`` fixture. The contract suite, the breaker and the health tests all take
``store``, so a new implementation (DynamoDB against dynalite, say) is covered by adding one fixture
and its name here; that fixture may ``pytest.skip`` when its backend is not available. Tests address
items under the ``ns`` prefix, so a backend shared between tests (one table) needs no cleanup.

``moto_store`` and ``dynalite_store`` (``DynamoStore``, from ``support/dynamo.py``) talk HTTP to real
DynamoDB implementations on loopback, one server and one table per session: moto always, dynalite
when installed (skipped with the reason otherwise).
The fake clock drives them too: expiry is decided by ``:now = clock.now()`` in every condition.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from aimux_core.state import FakeClock, MemoryStore, Store
from support.dynamo import dynalite_server, dynalite_store, moto_server, moto_store  # noqa: F401  (fixtures)

STORE_FIXTURES = ["memory_store", "local_memory_store", "moto_store", "dynalite_store"]

# moto has no per-item lock: concurrent writes to one item lose updates (measured with
# moto's server here: 791-798 of 800 concurrent ADDs landed). These tests race many writers on one item, so they run on
# memory and dynalite only; their DynamoDB-scale versions are in test_state_dynamodb_concurrency.py.
MOTO_LOSES_CONCURRENT_UPDATES = frozenset(
    {
        "test_concurrent_adds_lose_no_increment",
        "test_concurrent_limited_adds_admit_exactly_the_limit",
        "test_concurrent_creates_and_compare_and_sets_have_one_winner",
        "test_a_hundred_concurrent_failures_open_it_exactly_once",
        "test_fifty_concurrent_allows_in_half_open_admit_exactly_the_configured_probes",
        "test_racing_probe_results_leave_the_half_open_phase_exactly_once",
        "test_a_contended_decision_that_gives_up_never_over_admits",
        "test_concurrent_failures_and_successes_keep_the_record_consistent",
        "test_concurrent_guarded_removals_of_one_attribute_have_one_winner",
        "test_concurrent_adds_under_two_limits_admit_exactly_what_fits",
        "test_of_many_identical_requests_exactly_one_leads",
    }
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_700_000_000.0)


@pytest.fixture
def memory_store(clock: FakeClock) -> Iterator[Store]:
    yield MemoryStore(clock)


@pytest.fixture
def local_memory_store(clock: FakeClock) -> Iterator[Store]:
    """The store ``aimux serve`` runs on (``state.backend.build_store``): no yield to the loop per call."""
    yield MemoryStore(clock, interleave=False)


@pytest.fixture(params=STORE_FIXTURES)
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == "moto_store" and request.node.originalname in MOTO_LOSES_CONCURRENT_UPDATES:
        pytest.skip("moto loses concurrent updates to one item (no per-item lock): memory and dynalite cover this")
    return request.getfixturevalue(request.param)


@pytest.fixture
def ns() -> str:
    """A prefix no other test uses, for partition keys and breaker/health keys."""
    return f"t{uuid.uuid4().hex[:10]}"
