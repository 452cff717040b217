"""A short upstream overload must not lock clients out: through aimux, the same SDK clients (default
retries) get at least as many answers in the window as calling the overloaded provider directly,
and no more failed calls.

``support.overload`` runs both groups at once against twin fakes that answer a 529 (or a 429 with
``retry-after: 1``) for a while and then recover; ``bench/bench_overload.py`` runs the full-size
scenario. Before this was fixed, each 529/429 counted against the circuit breaker, two requests
opened it, and aimux refused everyone with ``retry-after: 10`` for its whole cooldown: zero answers
in the window.

No durations are asserted: only counts. The sizes are chosen so that timing noise cannot flip a
count. Answers take ``latency`` = 2 s once the fake recovers, so a client can finish at most two
answers in ``window - outage``, and the window ends about halfway between two possible finishing
times of a client through aimux: its clients notice the recovery within one overload cooldown
(0.25 s; up to 0.65 s after a 429 with ``retry-after: 1``), then finish an answer every 2 s plus
aimux's own few milliseconds, so they finish exactly as many answers as the window allows with about
0.85 s to spare (a third answer could not finish before the window ends), while direct clients, who
notice the recovery on their own backoff schedules, finish that many or fewer. With 1 s answers the
spare was 0.35 s, and a busy CI machine (the clients, aimux and the fakes share one process) once
stalled an aimux client past it.
"""

from __future__ import annotations

import pytest

from support.overload import Scenario, run

pytestmark = pytest.mark.timeout(90)


@pytest.mark.parametrize(
    "scenario",
    [
        Scenario(dialect="anthropic", fault="529", clients=6, outage=1.7, window=6.85, latency=2.0),
        Scenario(dialect="openai", fault="429", clients=6, outage=2.5, window=8.0, latency=2.0),
    ],
    ids=["anthropic-sdk-529", "openai-sdk-429-retry-after-1"],
)
def test_clients_get_as_many_answers_through_aimux_as_directly(scenario: Scenario) -> None:
    tallies = run(scenario)
    direct, aimux = tallies["direct"], tallies["aimux"]
    summary = {name: tally.as_dict() for name, tally in tallies.items()}
    assert direct.failed > 0, f"the outage must be long enough to fail direct calls: {summary}"
    assert aimux.ok > 0, f"clients locked out: {summary}"
    assert aimux.ok >= direct.ok, summary
    assert aimux.failed <= direct.failed, summary
