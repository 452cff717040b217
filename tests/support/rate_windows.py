"""``avoid_minute_boundary``: for tests that fill a real-clock rate window and expect the next request refused.

Rate windows are the wall clock's minutes (``limits/windows.py``: fixed windows). A test whose requests
straddle a minute's end sees two windows, so its "one too many" request is admitted and the test fails
about once in every 60 / (its duration in seconds) runs. Starting it where it cannot straddle removes that.
"""

from __future__ import annotations

import time


def avoid_minute_boundary(margin: float = 3.0) -> None:
    """Return at once when more than ``margin`` seconds are left in this minute, else just after it ends."""
    left = 60.0 - time.time() % 60.0
    if left < margin:
        time.sleep(left + 0.05)
