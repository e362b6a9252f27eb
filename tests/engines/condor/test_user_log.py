"""A user log's events as readable lines (tethys_compute/engines/condor/user_log.py):
parsed with htcondor2's JobEventLog, or with our own reader of the same text format
when the bindings are not installed; logs written by the HTCondor stand-in's event
writer (tests/htcondor_standin/eventlog.py), which htcondor2 reads as it reads
HTCondor's."""

import pytest

from tests.htcondor_standin import eventlog as ev
from tethys_compute.engines.condor import user_log

LOG = (ev.submitted(12, 0) + ev.executing(12, 0)
       + ev.held(12, 0, "Job exceeded its memory request", 34, 0)
       + ev.format_event(13, 12, 0, "Job was released.", ["\tvia condor_release (by user alice)"])
       + ev.executing(12, 0) + ev.terminated(12, 0, exit_code=3)
       + ev.submitted(12, 1) + ev.terminated(12, 1, signal=9)).encode()

EXPECTED = [
    ("12.0", "Submitted from host <127.0.0.1:9618"),
    ("12.0", "Executing on host <127.0.0.1:9618"),
    ("12.0", "Held: Job exceeded its memory request (code 34, subcode 0)"),
    ("12.0", "Released: via condor_release (by user alice)"),
    ("12.0", "Executing on host"),
    ("12.0", "Terminated: exited with code 3"),
    ("12.1", "Submitted from host"),
    ("12.1", "Terminated: killed by signal 9"),
]


@pytest.mark.parametrize("reader", ["htcondor2", "text"])
def test_events_read_as_one_line_each(reader, monkeypatch):
    if reader == "text":
        monkeypatch.setattr(user_log, "_bindings", lambda: None)
    else:
        pytest.importorskip("htcondor2")
    text = user_log.events_text(LOG)
    lines = text.splitlines()
    assert lines[0].startswith("Time") and "Job" in lines[0] and "Event" in lines[0]
    assert len(lines) == 1 + len(EXPECTED), text
    for line, (job, start) in zip(lines[1:], EXPECTED, strict=True):
        assert line[:19].count(":") == 2 and line[4] == "-", line  # 2026-12-07 14:10:23
        assert line[19:].split()[0] == job, line
        assert start in line, line


def test_a_log_cut_at_its_start_is_read_from_its_first_whole_event():
    cut = LOG[LOG.index(b"Job executing") - 10:]
    lines = user_log.events_text(cut, cut_at_start=True).splitlines()
    assert "Submitted" not in lines[1] and "Held" in lines[1]


def test_no_events_yet():
    assert user_log.events_text(b"") == "No events yet."
