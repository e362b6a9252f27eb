"""Fixtures of the jobs table tests."""

import pytest

from tethys_compute.models import BasicJob


@pytest.fixture
def make_job(user):
    """``make_job(name="job", status=None, owner=user, label="test_app", **fields)``: a
    saved BasicJob, moved to ``status`` through the status rules when given."""

    def make(name="job", status=None, owner=None, label="test_app", **fields):
        job = BasicJob(name=name, user=owner or user, label=label, **fields)
        job.save()
        if status:
            job.update_status(status)
        return job

    return make


@pytest.fixture
def rf_user(rf, user):
    """A request factory request by ``user`` (with a session)."""
    from django.contrib.sessions.backends.db import SessionStore

    request = rf.get("/")
    request.user = user
    request.session = SessionStore()
    return request
