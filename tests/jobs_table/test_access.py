"""Who may use a jobs table: owners, groups, the permission, and anonymous visitors."""

import json
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tethys_compute.jobs_table import get_jobs_user, purge_anonymous_users
from tethys_compute.jobs_table.access import SESSION_KEY, is_shadow_user
from tethys_compute.models import TethysJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def anonymous_on(settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "JOBS_TABLE_ALLOW_ANONYMOUS": True}


def test_logged_in_user_is_returned_as_is(rf_user, user):
    assert get_jobs_user(rf_user) == user


def test_anonymous_refused_by_default(rf, table_token, make_job):
    from django.contrib.auth.models import AnonymousUser

    request = rf.get("/")
    request.user = AnonymousUser()
    assert get_jobs_user(request) is None
    token = table_token([make_job()])
    answer = Client().post(reverse("jobs_table_poll"), data=json.dumps({"config": token, "rows": {}}),
                           content_type="application/json")
    assert answer.status_code == 401


def test_shadow_user_per_session(anonymous_on, rf):
    from django.contrib.auth.models import AnonymousUser
    from django.contrib.sessions.backends.db import SessionStore

    def visitor():
        request = rf.get("/")
        request.user = AnonymousUser()
        request.session = SessionStore()
        return request

    first, second = visitor(), visitor()
    assert get_jobs_user(first, create=False) is None
    shadow = get_jobs_user(first)
    assert shadow.get_username().startswith("anonymous-")
    assert not shadow.has_usable_password() and shadow.is_active
    assert is_shadow_user(shadow)
    assert first.session[SESSION_KEY] == shadow.pk
    assert get_jobs_user(first) == shadow
    assert get_jobs_user(second) != shadow
    # A session pointing at a real (non-shadow) user does not hand it out.
    real = get_user_model().objects.create_user("erin", password="pw")
    forged = visitor()
    forged.session[SESSION_KEY] = real.pk
    assert get_jobs_user(forged, create=False) is None


def test_anonymous_without_sessions_is_a_configuration_error(anonymous_on, rf):
    from django.contrib.auth.models import AnonymousUser

    request = rf.get("/")
    request.user = AnonymousUser()
    with pytest.raises(ImproperlyConfigured, match="SessionMiddleware"):
        get_jobs_user(request)


def _config_of(page):
    match = re.search(r'data-config="([^"]+)"', page.content.decode())
    return match.group(1)


@pytest.mark.urls("tests.jobs_table.urls")
def test_each_visitor_sees_and_acts_only_on_their_own_jobs(anonymous_on):
    one, two = Client(), Client()
    job_one = one.post("/jobs/new/", {"name": "one"}).json()["id"]
    job_two = two.post("/jobs/new/", {"name": "two"}).json()["id"]
    owners = {TethysJob.objects.get(pk=pk).user for pk in (job_one, job_two)}
    assert len(owners) == 2 and all(is_shadow_user(owner) for owner in owners)
    page_one = one.get("/jobs/")
    assert ">one<" in page_one.content.decode() and ">two<" not in page_one.content.decode()
    token_one = _config_of(page_one)
    ask = {"config": token_one, "rows": {str(job_one): "", str(job_two): ""}}
    answer = one.post(reverse("jobs_table_poll"), data=json.dumps(ask),
                      content_type="application/json").json()
    assert list(answer["rows"]) == [str(job_one)] and answer["gone"] == [job_two]
    refused = two.post(reverse("jobs_table_action"),
                       {"config": token_one, "job_id": job_one, "action": "delete"})
    assert refused.status_code == 404 and refused.json()["error"] == "No such job."
    fresh = Client()  # a new visitor, no shadow user yet: nothing to act on
    assert fresh.post(reverse("jobs_table_action"),
                      {"config": token_one, "job_id": job_one, "action": "delete"}
                      ).status_code == 404
    done = one.post(reverse("jobs_table_action"),
                    {"config": token_one, "job_id": job_one, "action": "delete"}).json()
    assert done["removed"] is True
    assert TethysJob.objects.filter(pk=job_two).exists()


def test_purge_removes_old_shadow_users_and_their_jobs(anonymous_on, rf, make_job):
    from django.contrib.auth.models import AnonymousUser
    from django.contrib.sessions.backends.db import SessionStore

    request = rf.get("/")
    request.user = AnonymousUser()
    request.session = SessionStore()
    shadow = get_jobs_user(request)
    job = make_job("anon job", owner=shadow)
    kept = make_job("real user's job")
    assert purge_anonymous_users(timedelta(days=1)) == 0
    get_user_model().objects.filter(pk=shadow.pk).update(
        date_joined=timezone.now() - timedelta(days=2))
    assert purge_anonymous_users(timedelta(days=1)) == 1
    assert not TethysJob.objects.filter(pk=job.pk).exists()
    assert TethysJob.objects.filter(pk=kept.pk).exists()
