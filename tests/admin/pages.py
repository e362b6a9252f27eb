"""Shared by the job changelist's tests: a request's response and statements, and the
texts that make a page's rows varied."""

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tethys_compute.models import TethysJob

CHANGELIST = reverse("admin:tethys_compute_tethysjob_changelist")


def page(client, query=""):
    """(response, the page's SQL statements) of a changelist request."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(CHANGELIST + query)
    assert response.status_code == 200
    return response, [q["sql"] for q in captured.captured_queries]


def vary(running, failed, other):
    """Running with progress and HTML in its message; Error by an engine, completed three
    minutes later; Other with HTML in its custom status."""
    now = timezone.now()
    TethysJob.objects.filter(pk=running.pk).update(
        _status="RUN", progress=40, status_message='Stage <2> of "3"', execute_time=now)
    TethysJob.objects.filter(pk=failed.pk).update(
        _status="ERR", failure_kind="engine", completion_time=now + timedelta(minutes=3))
    TethysJob.objects.filter(pk=other.pk).update(
        _status="OTH", extended_properties={"__other_status__": "Checking <it>"})
