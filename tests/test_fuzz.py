"""Generated hostile input (Hypothesis) for every public endpoint and every management
command: no answer is a 5xx, every refusal is JSON with a reason, and no command ends in
anything but success or a ``CommandError`` (no traceback). Runs on SQLite and, through
``.ci/with-postgres``, on PostgreSQL (NUL characters, 64-bit ranges and over-long text
differ between the two).

The examples are bounded (the ``fuzz`` profile below) so the module takes a few tens of
seconds; ``HYPOTHESIS_FUZZ_EXAMPLES`` raises the count for a longer hunt.
"""

from __future__ import annotations

import json
import logging
import os
from io import StringIO
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tethys_compute.gizmos import JobsTable
from tethys_compute.jobs_table.tokens import dump_ids
from tethys_compute.models import BasicJob, DaskJob, TethysJob

pytestmark = [
    pytest.mark.django_db,
    # Hypothesis warns "Do not use the `random` module inside strategies" whenever the
    # global random state moves while it draws, whichever thread moved it, and prints the
    # strategy's repr each time (about 100 kB a run). These strategies draw nothing from
    # it (test_the_strategies_draw_nothing_from_the_random_module checks that, in this
    # thread); in the full suite the in-process Dask clusters of earlier tests do, from
    # their IO loop threads (dask.sizeof samples with random.sample).
    pytest.mark.filterwarnings(
        "ignore:Do not use the `random` module inside strategies"
        ":hypothesis.errors.HypothesisDeprecationWarning"),
]

settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("HYPOTHESIS_FUZZ_EXAMPLES", "40")),
    deadline=None,
    database=None,  # nothing written to the working tree
    derandomize=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.filter_too_much],
)
fuzz = settings.get_profile("fuzz")

#: Values that broke something once, or sit on a boundary.
NASTY = [
    "", "\x00", "a\x00b", "nan", "inf", "1e300", "-1", "0", str(2**63), str(2**64),
    "9" * 40, "../../etc/passwd", "x" * 5000, "COM", "Complete", "RUN", "memory",
    "processing-memory", "erred", "9999-12-31T23:59:59-14:00", "null", "{}",
]
#: One of the values above, drawn by index: the same draws and shrinking as
#: ``sampled_from(NASTY)``, with a short repr (Hypothesis prints strategies' reprs in its
#: warnings and reports, and this list's holds 5 kB of "x").
nasty = st.sampled_from(range(len(NASTY))).map(lambda index: NASTY[index])
#: Mostly the values above (each also with a NUL appended), else any text or number.
text = st.one_of(
    nasty,
    nasty.map(lambda value: value + "\x00"),
    st.text(max_size=30),
    st.one_of(st.integers(), st.floats()).map(str),
)
json_values = st.recursive(
    st.one_of(text, st.none(), st.booleans(), st.integers(), st.floats()),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(text, children, max_size=4)),
    max_leaves=12,
)


def assert_answer(response):
    """Not a 5xx; an error answer is JSON with a reason."""
    assert response.status_code < 500, (response.status_code, response.content[:500])
    if response.status_code >= 400 and response.status_code != 405:
        body = response.json()
        assert body.get("success") is False and body.get("error"), body


@pytest.fixture(autouse=True)
def _no_server_errors(caplog):
    """A request that was refused politely logs no error with a traceback."""
    yield
    tracebacks = [r for r in caplog.records
                  if r.levelno >= logging.ERROR and r.name.startswith("django.request")]
    assert not tracebacks, [r.getMessage() for r in tracebacks]


@pytest.fixture
def job(user):
    return BasicJob.objects.create(name="fuzzed", user=user, label="test_app", _status="RUN")


@pytest.fixture
def dask_job(user):
    return DaskJob.objects.create(name="dask fuzzed", user=user, label="test_app",
                                  _status="RUN", key="add-fuzz")


def _reset(*jobs):
    TethysJob.objects.filter(pk__in=[j.pk for j in jobs]).update(
        _status="RUN", progress=0, progress_message=None, status_message=None)


# --- callbacks ---------------------------------------------------------------------------
@fuzz
@given(job_id=text, method=st.sampled_from(["get", "post", "head", "put", "delete"]),
       query=st.dictionaries(st.sampled_from(["delay", "x"]), text, max_size=2))
def test_update_job_status_any_input(job, job_id, method, query):
    _reset(job)
    for target in (job_id, str(job.pk)):
        url = f"/update-job-status/{quote(target, safe='')}/"
        if not target or "/" in target:
            continue
        response = getattr(Client(), method)(url, query if method == "get" else None)
        assert_answer(response)


report_fields = st.fixed_dictionaries({}, optional={
    "status": json_values, "progress": json_values, "progress_message": json_values,
    "node_statuses": json_values, "token": json_values,
})


@fuzz
@example(fields={"status": "COM", "progress": 100, "progress_message": "done\x00"}, how="json",
         real_token=True, job_id=None, raw=b"")  # seen: 500 on every retry (PostgreSQL)
@given(fields=report_fields, how=st.sampled_from(["json", "form", "query", "raw"]),
       real_token=st.booleans(), job_id=st.one_of(st.none(), text), raw=st.binary(max_size=80))
def test_report_job_status_any_input(job, fields, how, real_token, job_id, raw):
    _reset(job)
    if real_token:
        fields = {**fields, "token": job.status_report_token}
    target = str(job.pk) if job_id is None or not job_id or "/" in job_id else job_id
    url = f"/report-job-status/{quote(target, safe='')}/"
    client = Client()
    if how == "json":
        response = client.post(url, json.dumps(fields), content_type="application/json")
    elif how == "raw":
        response = client.post(url, raw, content_type="application/json")
    else:
        flat = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
        response = client.post(url, flat) if how == "form" else client.get(url, flat)
    assert_answer(response)


@fuzz
@example(key="add-\x00-1", token=None, params={}, method="get")  # seen (PostgreSQL)
@given(key=text, token=st.one_of(st.none(), text, st.just("REAL")),
       params=st.dictionaries(st.sampled_from(["status", "start", "finish", "exception",
                                               "cancelled", "token"]), text, max_size=5),
       method=st.sampled_from(["get", "post"]))
def test_dask_callback_any_input(dask_job, key, token, params, method):
    _reset(dask_job)
    if token == "REAL":
        key, token = dask_job.key, dask_job.status_token
    if not key or "/" in key:
        key = dask_job.key
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token and "\n" not in token else {}
    url = reverse("update_dask_job_status", kwargs={"key": key})
    response = getattr(Client(), method)(url, params, **headers)
    assert_answer(response)


# --- jobs table -------------------------------------------------------------------------
@pytest.fixture
def table(client, user, job):
    client.force_login(user)
    config = JobsTable(jobs=[job], column_fields=["id", "name", "creation_time"],
                       enable_data_table=True,
                       data_table_options={"searching": True, "paging": True, "pageLength": 2},
                       ).table_config().dumps()
    return client, config


config_values = st.one_of(st.just("REAL"), text)


def _config(value, config):
    return config if value == "REAL" else value


@fuzz
@example(body={"config": "REAL", "rows": {str(2**63): "x"}}, raw=None)  # seen (SQLite)
@given(body=st.one_of(json_values, st.fixed_dictionaries(
    {"config": config_values, "rows": st.one_of(json_values, st.dictionaries(text, json_values))})),
    raw=st.one_of(st.none(), st.binary(max_size=60)))
def test_table_poll_any_input(table, job, body, raw):
    client, config = table
    _reset(job)
    if isinstance(body, dict) and "config" in body:
        body = {**body, "config": _config(body["config"], config)}
    payload = raw if raw is not None else json.dumps(body)
    assert_answer(client.post(reverse("jobs_table_poll"), payload, content_type="application/json"))


@fuzz
@example(fields={"config": "REAL", "rows": "REAL", "q": "a\x00"})  # seen (PostgreSQL)
@given(fields=st.fixed_dictionaries({"config": config_values}, optional={
    "rows": st.one_of(st.just("REAL"), text), "page": text, "sort": text, "dir": text, "q": text}))
def test_table_rows_and_search_any_input(table, job, fields):
    client, config = table
    fields = {**fields, "config": _config(fields["config"], config)}
    if fields.get("rows") == "REAL":
        fields["rows"] = dump_ids([job.pk])
    assert_answer(client.post(reverse("jobs_table_rows"), fields))


@fuzz
@given(fields=st.fixed_dictionaries({"config": config_values}, optional={
    "job_id": st.one_of(st.just("JOB"), text),
    "action": st.one_of(st.sampled_from(["run", "pause", "resume", "resubmit", "terminate",
                                         "logs", "monitor", "results", "delete"]), text)}))
def test_table_action_any_input(table, job, fields):
    client, config = table
    _reset(job)
    fields = {**fields, "config": _config(fields["config"], config)}
    if fields.get("action") == "delete":
        fields["action"] = "terminate"  # keep the row for the next examples
    if fields.get("job_id") == "JOB":
        fields["job_id"] = str(job.pk)
    assert_answer(client.post(reverse("jobs_table_action"), fields))


@fuzz
@given(view=st.sampled_from(["jobs_table_logs", "jobs_table_log_content",
                             "jobs_table_log_download"]),
       fields=st.fixed_dictionaries({"config": config_values}, optional={
           "job_id": st.one_of(st.just("JOB"), text),
           "path": st.one_of(json_values.map(json.dumps), text)}))
def test_table_logs_any_input(table, job, view, fields):
    client, config = table
    fields = {**fields, "config": _config(fields["config"], config)}
    if fields.get("job_id") == "JOB":
        fields["job_id"] = str(job.pk)
    assert_answer(client.get(reverse(view), fields))


# --- management commands --------------------------------------------------------------
JOBS_ACTIONS = {
    "list": ["--app", "--user", "--status", "--type", "--search", "--created-after",
             "--created-before", "--limit", "--format"],
    "show": ["--logs", "--format"],
    "terminate": [],
    "resubmit": [],
    "prune": ["--older-than", "--app", "--user", "--status"],
}
SCHEDULER_ACTIONS = {
    "create_condor": ["--name", "--endpoint", "--port", "--username", "--password",
                      "--private-key-path", "--private-key-pass"],
    "create_dask": ["--name", "--endpoint", "--timeout", "--heartbeat-interval",
                    "--dashboard"],
    "list": ["--type", "--format"],
    "remove": ["-f"],
    "link": [],
    "unlink": [],
    "settings": ["--app", "--format"],
    "reencrypt": [],
}


def arguments(options):
    """Argument lists mixing the command's options with hostile values and positionals."""
    option_value = st.tuples(st.sampled_from(options), text) if options else st.nothing()
    item = st.one_of(option_value, text.map(lambda value: (value,)))
    return st.lists(item, max_size=5).map(lambda items: [part for it in items for part in it])


def _run_command(*args, **extra):
    out, err = StringIO(), StringIO()
    try:
        call_command(*args, stdout=out, stderr=err, **extra)
    except CommandError as exc:
        assert str(exc), args  # a reason is given


@fuzz
@given(data=st.data())
def test_jobs_command_any_arguments(job, data):
    action = data.draw(st.sampled_from(sorted(JOBS_ACTIONS)))
    args = data.draw(arguments(JOBS_ACTIONS[action]))
    if action in ("show", "terminate", "resubmit") and data.draw(st.booleans()):
        args = [str(job.pk), *args]
    if action == "prune":
        args = [a for a in args if a not in ("--yes", "--execute")]  # a dry run
    _run_command("tethys_compute_jobs", action, *args)


@fuzz
@given(data=st.data())
def test_schedulers_command_any_arguments(data):
    action = data.draw(st.sampled_from(sorted(SCHEDULER_ACTIONS)))
    args = data.draw(arguments(SCHEDULER_ACTIONS[action]))
    args = [a for a in args if not a.endswith("-stdin")]
    if action == "remove":
        args = [*args, "-f"]  # never waits for an answer
    _run_command("tethys_compute_schedulers", action.replace("_", "-"), *args, stdin=StringIO(""))


@fuzz
@given(interval=st.one_of(st.none(), text), label=st.one_of(st.none(), text))
def test_monitor_command_any_arguments(job, interval, label):
    args = ["--once"]
    if interval is not None:
        args += ["--interval", interval]
    if label is not None:
        args += ["--label", label]
    _run_command("tethys_compute_monitor", *args)


RANDOM_FUNCTIONS = ("random", "uniform", "randint", "randrange", "choice", "choices",
                    "sample", "shuffle", "getrandbits", "gauss")


@fuzz
@given(data=st.data())
def test_the_strategies_draw_nothing_from_the_random_module(data):
    """What Hypothesis's own check (silenced above) guards, without its false alarms from
    other threads: drawing every strategy of this module calls no function of the
    ``random`` module in this thread (a strategy must use ``st.randoms()`` or
    ``st.sampled_from()`` instead, to stay reproducible and shrinkable)."""
    import random
    import threading
    from unittest import mock

    main, calls = threading.current_thread(), []

    def spy(name, real):
        def call(*args, **kwargs):
            if threading.current_thread() is main:
                calls.append(name)
            return real(*args, **kwargs)
        return call

    with mock.patch.multiple(random, **{name: spy(name, getattr(random, name))
                                        for name in RANDOM_FUNCTIONS}):
        data.draw(st.tuples(text, json_values, report_fields, config_values,
                            st.sampled_from(sorted(JOBS_ACTIONS)).flatmap(
                                lambda action: arguments(JOBS_ACTIONS[action]))))
    assert calls == []
