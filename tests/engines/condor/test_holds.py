"""HTCondor's documented codes -> failure kinds (engines/condor/holds.py). The ads here
are the attributes the stand-in's policy holds carry (see tests/htcondor_standin/
test_policy.py, which shows the stand-in produces them for real)."""

import pytest

from tethys_compute import failure_kinds as fk
from tethys_compute.engines.condor.holds import eviction, exit_failure, hold_failure


def test_memory_hold_names_what_it_asked_and_used():
    failure = hold_failure(34, 0, "Job has gone over cgroup memory limit of 2048 megabytes.",
                           {"RequestMemory": 2048, "MemoryUsage": 2311})
    assert failure.kind == fk.MEMORY
    assert failure.message == ("held for exceeding its memory request "
                               "(asked 2048 MB, used 2311 MB)")
    assert failure.details["hold_reason_code"] == 34
    assert failure.details["memory_used_mb"] == 2311


@pytest.mark.parametrize("code,kind", [
    (46, fk.WALLTIME), (47, fk.WALLTIME), (12, fk.TRANSFER), (13, fk.TRANSFER),
    (11, fk.TRANSFER), (32, fk.TRANSFER), (33, fk.TRANSFER), (6, fk.ENGINE), (14, fk.ENGINE),
    (7, fk.ENGINE), (21, fk.ENGINE), (43, fk.EXIT), (44, fk.EXIT), (999, fk.ENGINE),
])
def test_documented_hold_codes_map_to_kinds(code, kind):
    assert hold_failure(code, 2, "whatever the text says").kind == kind


@pytest.mark.parametrize("code", [1, 15, 16])
def test_holds_asked_for_are_no_failure(code):
    assert hold_failure(code, 0, "Job has gone over its memory limit") is None


def test_codes_not_text_decide():
    # A policy hold whose text speaks of memory is no memory failure unless the ad shows it.
    assert hold_failure(26, 0, "memory exceeded!!", {}).kind == fk.ENGINE
    over = hold_failure(26, 0, "SYSTEM_PERIODIC_HOLD", {"RequestMemory": 100, "MemoryUsage": 150})
    assert over.kind == fk.MEMORY
    # A transfer hold whose text speaks of memory is a transfer failure.
    assert hold_failure(13, 2, "memory limit exceeded").kind == fk.TRANSFER


def test_walltime_message_and_exit_and_eviction():
    wall = hold_failure(47, 0, "The job exceeded allowed execute duration of 0+00:00:05",
                        {"AllowedExecuteDuration": 5, "RemoteWallClockTime": 5.2})
    assert wall.message == "held for running past its allowed run time of 5 s"
    assert wall.details["run_seconds"] == 5.2
    assert exit_failure(3).details == {"exit_code": 3} and exit_failure(0) is None
    assert exit_failure(None, True, 9).message == "killed by signal 9"
    evicted = eviction({"NumVacates": 2, "VacateReasonCode": 1010})
    assert evicted.kind == fk.EVICTED and "2 times" in evicted.message
    assert eviction({"NumVacates": 0}) is None
