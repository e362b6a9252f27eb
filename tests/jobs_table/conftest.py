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
def workflow(user):
    """A CondorWorkflow (no engine needed) with nodes prep -> (a, b) -> join and cached
    node statuses; one node name is hostile."""
    from tethys_compute.models import CondorWorkflow, CondorWorkflowJobNode

    job = CondorWorkflow(name="flow", user=user, label="test_app")
    job.save()
    nodes = {}
    for name, state in (("prep", "Completed"), ("a", "Running"), ("b<script>", "Held"),
                        ("join", None)):
        node = CondorWorkflowJobNode(name=name, workflow=job, cached_node_status=state)
        node.save()
        nodes[name] = node
    nodes["a"].add_parent(nodes["prep"])
    nodes["b<script>"].add_parent(nodes["prep"])
    nodes["join"].add_parent(nodes["a"])
    nodes["join"].add_parent(nodes["b<script>"])
    job.update_status("VAR")
    job.nodes_by_name = nodes
    return job
