"""A short upstream overload must not lock clients out: through aimux, the same SDK clients (default
retries) get at least as many answers in the window as calling the overloaded provider directly,
and no more failed calls.

``support.overload`` runs both groups at once against twin fakes that answer a 529 (or a 429 with
``retry-after: 1``) for a while and then recover; ``bench/bench_overload.py`` runs the full-size
scenario. Before this was fixed, each 529/429 counted against the circuit breaker, two requests
opened it, and aimux refused everyone with ``retry-after: 10`` for its whole cooldown: zero answers
in the window.

No durations are asserted: only counts. The sizes are chosen so that timing noise cannot flip a
count. Answers take ``latency`` = 3 s once the fake recovers, so a client can finish at most two
answers in ``window - outage``, and the window ends about halfway between a client's second and third
possible finishing times. Measured on this machine (each client's finishing times, both groups): the
second answers land at 7.75-7.95 s (529) and 9.10-9.17 s (429 with ``retry-after: 1``), the third ones
could not before 10.76 s and 12.11 s, so the windows (9.35 s and 10.65 s) leave about 1.4 s on either
side. With 2 s answers the spare was 0.78 s, and a CI run with both Python passes on two cores once
stalled two of aimux's clients past it (10 answers against 12); with 1 s answers it was 0.35 s.
"""

from __future__ import annotations

import pytest

from support.overload import Scenario, run

pytestmark = pytest.mark.timeout(90)


@pytest.mark.parametrize(
    "scenario",
    [
        Scenario(dialect="anthropic", fault="529", clients=6, outage=1.7, window=9.35, latency=3.0),
        Scenario(dialect="openai", fault="429", clients=6, outage=2.5, window=10.65, latency=3.0),
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
