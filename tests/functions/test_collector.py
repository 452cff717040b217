"""aimux_core/collector.py: what ``tune_for_serving`` changes in the running interpreter, and the opt-out."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from aimux_core.collector import YOUNG_THRESHOLD, tune_for_serving
from aimux_core.settings import Settings


@pytest.fixture
def restored_collector() -> Iterator[None]:
    """The test process's own collector settings, put back after each test."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_freezes_what_exists_and_raises_the_young_threshold() -> None:
    _, middle, old = gc.get_threshold()
    assert tune_for_serving(Settings()) is True
    assert gc.get_threshold() == (YOUNG_THRESHOLD, middle, old)
    assert gc.get_freeze_count() > 10_000  # pytest, aimux_core and their imports


@pytest.mark.usefixtures("restored_collector")
@pytest.mark.parametrize("value", ["default", " DEFAULT "])
def test_default_leaves_the_collector_alone(value: str) -> None:
    before = gc.get_threshold()
    assert tune_for_serving(Settings.from_env({"AIMUX_GC": value})) is False
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
