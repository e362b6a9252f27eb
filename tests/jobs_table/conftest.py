"""Fixtures of the jobs table tests."""

import os

import pytest

from tethys_compute.models import BasicJob

# pytest-django's live_server binds here (never "localhost", which may also mean ::1).
os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]


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


@pytest.fixture
def table_token():
    """``table_token(jobs, **options)``: the signed configuration of a JobsTable."""
    from tethys_compute.gizmos import JobsTable

    def build(jobs, column_fields=("id", "name"), **options):
        return JobsTable(jobs=jobs, column_fields=list(column_fields), **options).table_config().dumps()

    return build


@pytest.fixture
def alice_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def engine(monkeypatch):
    """A stand-in engine for Basic jobs: ``engine[job_id] = "RUN"`` is what the job's
    engine answers on the next status query; ``engine.calls`` lists the queried ids."""
    from tethys_compute.models import BasicJob

    class Engine(dict):
        calls = []

    state = Engine()

    def _update_status(self, *args, **kwargs):
        state.calls.append(self.pk)
        return state.get(self.pk)

    monkeypatch.setattr(BasicJob, "_update_status", _update_status, raising=False)
    return state


@pytest.fixture
def make_workflow(user):
    """``make_workflow(name, [(node, cached_status, [parents]), ...], status="VAR")``: a
    CondorWorkflow (no engine needed) with its nodes and cached node statuses."""
    from tethys_compute.models import CondorWorkflow, CondorWorkflowJobNode

    def make(name, spec, status="VAR"):
        job = CondorWorkflow(name=name, user=user, label="test_app")
        job.save()
        nodes = {}
        for node_name, state, parents in spec:
            node = CondorWorkflowJobNode(name=node_name, workflow=job, cached_node_status=state)
            node.save()
            nodes[node_name] = node
            for parent in parents:
                node.add_parent(nodes[parent])
        if status:
            job.update_status(status)
        job.nodes_by_name = nodes
        return job

    return make


@pytest.fixture
def workflow(make_workflow):
    """prep -> (a, b<script>) -> join, with cached node statuses; one name is hostile."""
    return make_workflow("flow", [
        ("prep", "Completed", []),
        ("a", "Running", ["prep"]),
        ("b<script>", "Held", ["prep"]),
        ("join", None, ["a", "b<script>"]),
    ])


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright (never ``playwright install``).

    Playwright's sync API keeps an event loop in this thread, so Django's async-safety
    check is switched off while it runs (the ORM calls stay synchronous)."""
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()


@pytest.fixture
def open_page(browser, live_server, settings):
    """``open_page(user=None, path="/jobs/", timezone="UTC")``: a new browser page on the
    live server, logged in as ``user``. JavaScript errors on any page fail the test."""
    from django.test import Client

    contexts, errors = [], []

    def open_(user=None, path="/jobs/", timezone="UTC"):
        context = browser.new_context(timezone_id=timezone, locale="en-US",
                                      viewport={"width": 1280, "height": 800})
        contexts.append(context)
        if user is not None:
            client = Client()
            client.force_login(user)
            context.add_cookies([{"name": settings.SESSION_COOKIE_NAME,
                                  "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                                  "url": live_server.url}])
        page = context.new_page()
        page.set_default_timeout(15000)
        page.on("pageerror", lambda error: errors.append(error))
        page.goto(live_server.url + path)
        return page

    yield open_
    for context in contexts:
        context.close()
    assert not errors, errors
