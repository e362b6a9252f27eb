"""Column specs, cell values and sort expressions."""

from datetime import timedelta

import pytest

from tethys_compute.jobs_table.columns import (
    Column,
    cell,
    default_title,
    format_duration,
    is_valid_for,
    parse_columns,
    sort_expression,
)

pytestmark = pytest.mark.django_db


def test_default_titles_follow_tethys():
    assert default_title("creation_time") == "Creation Time"
    assert default_title("extended_properties.model.grid_size") == "Grid Size"


def test_cells(make_job, settings):
    job = make_job("n", status="RUN", extended_properties={"a": {"b": 3}, "s": None})
    assert cell(job, Column("X", "extended_properties.a.b"))["text"] == "3"
    assert cell(job, Column("X", "extended_properties.a.zz"))["text"] == ""
    assert cell(job, Column("X", "extended_properties.s"))["text"] == ""
    assert cell(job, Column("X", "status"))["text"] == "Running"
    assert cell(job, Column("X", "user"))["text"] == "alice"
    assert cell(job, Column("X", "execute"))["text"] == ""  # methods are never called
    assert cell(job, Column("X", "creation_time"))["iso"].endswith("Z")
    assert format_duration(timedelta(days=1, seconds=3723, microseconds=5)) == "1 day, 1:02:03"


def test_run_time_of_a_running_job_carries_its_elapsed_seconds(make_job):
    from django.utils import timezone

    from tethys_compute.models import TethysJob

    started = timezone.now() - timedelta(seconds=3725)
    running = make_job("r", status="RUN")
    TethysJob.objects.filter(pk=running.pk).update(start_time=started)
    running.refresh_from_db()
    shown = cell(running, Column("R", "run_time"))
    assert shown["text"].startswith("1:02:0") and 3725 <= shown["elapsed"] < 3735
    done = make_job("d", status="COM")
    TethysJob.objects.filter(pk=done.pk).update(start_time=started)
    done.refresh_from_db()
    assert cell(done, Column("R", "run_time"))["elapsed"] is None  # finished: fixed
    # Reported Complete, its results processing not yet done (no completion_time): a
    # poll between the two writes must not start the page's count again (seen in a
    # browser test under load).
    TethysJob.objects.filter(pk=done.pk).update(completion_time=None)
    done.refresh_from_db()
    assert cell(done, Column("R", "run_time"))["elapsed"] is None
    assert cell(make_job("new"), Column("R", "run_time")) == {
        "text": "", "iso": None, "elapsed": None}  # never started: nothing to count


def test_validity_never_evaluates_properties(make_job, monkeypatch):
    job = make_job()
    calls = []
    monkeypatch.setattr(type(job), "update_status", lambda self, *a, **k: calls.append(1))
    assert is_valid_for(Column("S", "status"), job)
    assert not is_valid_for(Column("S", "__class__"), job)
    assert not is_valid_for(Column("S", "user.password"), job)
    assert calls == []


def test_sort_expressions():
    assert sort_expression(Column("N", "name")) == "name"
    assert sort_expression(Column("S", "status")) == "_status"
    assert sort_expression(Column("U", "user")) == "user__username"
    assert sort_expression(Column("E", "extended_properties.a.b")) == "extended_properties__a__b"
    assert sort_expression(Column("R", "run_time")) is None
    assert sort_expression(Column("G", "groups")) is None


def test_parse_rejects_malformed_specs():
    assert parse_columns(("id", ["T", "name"])) == [Column("Id", "id"), Column("T", "name")]
    for bad in (None, 3, "id", ["", "x"], [("a", "b", "c")], [("a", 1)]):
        with pytest.raises(ValueError):
            parse_columns(bad if isinstance(bad, (list, tuple)) else bad)
