"""Scenario fuzzing: random sites and events through the simulator's engine
(simulation/simsite.py on the unix port), checked against the overload
invariant, the hard limits and J1772's duties (tools/fuzzlib.py says how).

A fixed seed keeps `make test` repeatable; `make bench` runs a longer
random search and prints the worst overload it found.
"""

import os
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import fuzzlib  # noqa: E402

EXAMPLES = int(os.environ.get("ALMHUB_FUZZ_EXAMPLES", "120"))
BATCH = 8       # scenarios per MicroPython process: one start-up for eight sites


@settings(max_examples=max(1, EXAMPLES // BATCH), deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.lists(fuzzlib.scenarios(duration=180), min_size=BATCH, max_size=BATCH))
def test_the_limit_holds_on_generated_sites(scs):
    problems = []
    for k, (sc, res) in enumerate(zip(scs, fuzzlib.run(scs))):
        problems += ["site %d of the batch: %s" % (k, p) for p in fuzzlib.judge(sc, res)[0]]
    assert not problems, "\n".join(problems)


def test_the_judge_sees_an_overload():
    # the checker itself: an overload with no excuse is a problem, one just
    # after a load step is not, and what the house alone takes is never ours
    sc = {"events": [{"t": 100, "load": {"L1": 30}}]}
    res = {"bad": "", "period_ms": 500, "response_ms": 5000,
           "over": [[50.0, "phase", "L1", 45.0, 40, 10.0, None]]}
    problems, worst, _ = fuzzlib.judge(sc, res)
    assert problems and worst > 0
    res["over"] = [[104.0, "phase", "L1", 45.0, 40, 10.0, None]]
    assert fuzzlib.judge(sc, res)[0] == []
    res["over"] = [[50.0, "phase", "L1", 45.2, 40, 45.0, None]]
    assert fuzzlib.judge(sc, res)[0] == []
    res["bad"] = "c1 offered 40 A outside min..max"
    assert fuzzlib.judge(sc, res)[0]
