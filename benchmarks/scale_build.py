"""The scale benchmark's database: every job type, bulk-inserted with raw statements.

1000 users in 10 groups, 3 apps, ``n`` jobs: 40% ``BasicJob``, 25% ``CondorJob``, 10%
``CondorWorkflow`` (three job nodes each, the second and third children of the first),
25% ``DaskJob``; 2% active (Running), the others Complete or Error; 5% shared with a
group; creation times spread over about three years (1.5 minutes apart); each job has
its status history (one change while active, two once finished).

Every row is written with its explicit primary key, table by table (a job's base row,
then its engine's and its own class's rows), from a template instance of each class
(so fields added by later migrations get their defaults with no edit here): SQLite by
``executemany``, PostgreSQL by ``COPY``. The sequences are reset afterwards.

PostgreSQL is loaded the way a bulk load is made fast there: the tables' secondary
indexes (not those of primary keys and unique constraints) are dropped before the load
and made again after it in one pass each, foreign-key triggers are off during the load
(``session_replication_role = replica``; the rows are consistent by construction), and
``VACUUM ANALYZE`` then does what a live site's autovacuum would have done (statistics,
and the visibility map an ``Index Only Scan`` needs).
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta

#: Bump when the data changes: the cached SQLite file is named after it.
VERSION = 2
USERS, GROUPS, APPS = 1000, 10, ("app_a", "app_b", "app_c")
#: Job kinds by ``(i // 3) % 20`` (so each app gets every kind).
KINDS = ["basic"] * 8 + ["condor"] * 5 + ["workflow"] * 2 + ["dask"] * 5
NODES = 3
BATCH = 20_000


def kind_of(i: int) -> str:
    return KINDS[(i // 3) % len(KINDS)]


class Table:
    """Rows for one table: the local concrete fields of ``model``, defaults taken from
    ``template`` (an instance), per-row values set by attribute name."""

    def __init__(self, connection, model, template, skip_pk=False):
        from django.db.models.expressions import BaseExpression

        self.connection = connection
        self.table = model._meta.db_table
        fields, values = [], []
        for field in model._meta.local_concrete_fields:
            if skip_pk and field.primary_key:
                continue
            value = getattr(template, field.attname, None)
            if isinstance(value, BaseExpression):  # a db_default: leave it to the database
                continue
            fields.append(field)
            values.append(None if value is None else field.get_db_prep_save(value, connection))
        self.columns = [f.column for f in fields]
        self.index = {f.attname: i for i, f in enumerate(fields)}
        self.template = values
        self.rows: list[list] = []

    def add(self, **values):
        row = list(self.template)
        for name, value in values.items():
            row[self.index[name]] = value
        self.rows.append(row)

    def flush(self, cursor):
        if not self.rows:
            return
        quote = self.connection.ops.quote_name
        columns = ", ".join(quote(c) for c in self.columns)
        if self.connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {quote(self.table)} ({columns}) FROM STDIN") as copy:
                for row in self.rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(self.columns))
            cursor.executemany(f"INSERT INTO {quote(self.table)} ({columns}) VALUES ({marks})",
                               self.rows)
        self.rows = []


def build(n_jobs: int) -> bool:
    """Insert the users, groups, two schedulers and ``n_jobs`` jobs unless the database
    has them; ``True`` when it built them."""
    from django.contrib.auth.models import Group, User
    from django.core.management.color import no_style
    from django.db import connection, transaction
    from django.utils import timezone

    from tethys_compute.models import (
        BasicJob,
        CondorBase,
        CondorJob,
        CondorPyJob,
        CondorPyWorkflow,
        CondorScheduler,
        CondorWorkflow,
        CondorWorkflowJobNode,
        CondorWorkflowNode,
        DaskJob,
        DaskScheduler,
        JobStatusChange,
        TethysJob,
    )

    have = TethysJob.objects.count()
    if have >= n_jobs:
        return False
    assert have == 0, f"a partly built database ({have} jobs): delete it and run again"
    start = time.perf_counter()
    groups = Group.objects.bulk_create([Group(name=f"group{g}") for g in range(GROUPS)])
    users = User.objects.bulk_create([User(username=f"user{u}") for u in range(USERS)])
    User.groups.through.objects.bulk_create([
        User.groups.through(user_id=u.pk, group_id=groups[i % GROUPS].pk)
        for i, u in enumerate(users)])
    User.objects.create_superuser("admin", "admin@example.org", "admin")
    pool = CondorScheduler.objects.create(name="pool", host="submit.example.org",
                                          username="condor")
    cluster = DaskScheduler.objects.create(name="cluster", host="tcp://127.0.0.1:8786")

    condor = CondorJob(scheduler_id=pool.pk, _attributes={"executable": "run.sh"})
    workflow = CondorWorkflow(scheduler_id=pool.pk)
    node = CondorWorkflowJobNode(name="node", _attributes={"executable": "step.sh"})
    tables = {
        "job": Table(connection, TethysJob, TethysJob(name="", label="", user_id=1)),
        "basic": Table(connection, BasicJob, BasicJob()),
        "condorbase": Table(connection, CondorBase, condor),
        "pyjob": Table(connection, CondorPyJob, condor),
        "condor": Table(connection, CondorJob, condor),
        "pyworkflow": Table(connection, CondorPyWorkflow, workflow),
        "workflow": Table(connection, CondorWorkflow, workflow),
        "node": Table(connection, CondorWorkflowNode, node),
        "jobnode": Table(connection, CondorWorkflowJobNode, node),
        "parents": Table(connection, CondorWorkflowNode.parent_nodes.through,
                         CondorWorkflowNode.parent_nodes.through(), skip_pk=True),
        "dask": Table(connection, DaskJob, DaskJob(scheduler_id=cluster.pk)),
        "groups": Table(connection, TethysJob.groups.through, TethysJob.groups.through(),
                        skip_pk=True),
        "history": Table(connection, JobStatusChange, JobStatusChange(job_id=1, new_status="RUN"),
                         skip_pk=True),
    }
    postgres = connection.vendor == "postgresql"
    when = connection.ops.adapt_datetimefield_value
    now = timezone.now()
    fresh = when(now + timedelta(days=3650))  # active rows: a monitor keeps them fresh
    pyjob_id = workflow_id = node_id = 0
    indexes = _drop_secondary_indexes(connection, tables) if postgres else []
    for first in range(0, n_jobs, BATCH):
        for i in range(first, min(first + BATCH, n_jobs)):
            pk = i + 1
            created = now - timedelta(minutes=(n_jobs - i) * 1.5)
            active = i % 50 == 0
            status = "RUN" if active else ("COM", "ERR")[i % 7 == 0]
            started = created + timedelta(minutes=2)
            completed = None if active else created + timedelta(minutes=30)
            tables["job"].add(
                id=pk, name=f"job {i}", description=f"run {i} of the study",
                user_id=users[i % USERS].pk, label=APPS[i % len(APPS)], _status=status,
                creation_time=when(created), execute_time=when(created + timedelta(minutes=1)),
                start_time=when(started), completion_time=completed and when(completed),
                _last_status_update=fresh if active else when(completed), attempt=1)
            tables["history"].add(job_id=pk, old_status="SUB", new_status="RUN",
                                  time=when(started), attempt=1)
            if not active:
                tables["history"].add(job_id=pk, old_status="RUN", new_status=status,
                                      time=when(completed), attempt=1,
                                      reason="exit code 1" if status == "ERR" else "")
            if pk % 20 == 1:
                tables["groups"].add(tethysjob_id=pk, group_id=groups[(pk // 20) % GROUPS].pk)
            kind = kind_of(i)
            if kind == "basic":
                tables["basic"].add(tethysjob_ptr_id=pk)
            elif kind == "dask":
                tables["dask"].add(tethysjob_ptr_id=pk, key=f"job-{i}")
            elif kind == "condor":
                pyjob_id += 1
                tables["condorbase"].add(tethysjob_ptr_id=pk, cluster_id=i, remote_id=f"{i}.0")
                tables["pyjob"].add(condorpyjob_id=pyjob_id)
                tables["condor"].add(condorbase_ptr_id=pk, condorpyjob_ptr_id=pyjob_id)
            else:
                workflow_id += 1
                tables["condorbase"].add(tethysjob_ptr_id=pk, cluster_id=i, remote_id=f"{i}.0")
                tables["pyworkflow"].add(condorpyworkflow_id=workflow_id)
                tables["workflow"].add(condorbase_ptr_id=pk, condorpyworkflow_ptr_id=workflow_id)
                first_node = node_id + 1
                for n in range(NODES):
                    node_id += 1
                    pyjob_id += 1
                    tables["node"].add(id=node_id, name=f"step{n}", workflow_id=workflow_id,
                                       cached_node_status="Running" if active and n
                                       else "Completed")
                    tables["pyjob"].add(condorpyjob_id=pyjob_id)
                    tables["jobnode"].add(condorworkflownode_ptr_id=node_id,
                                          condorpyjob_ptr_id=pyjob_id)
                    if n:
                        tables["parents"].add(from_condorworkflownode_id=node_id,
                                              to_condorworkflownode_id=first_node)
        with transaction.atomic(), connection.cursor() as cursor:
            if postgres:
                cursor.execute("SET LOCAL session_replication_role = replica")
            for table in tables.values():
                table.flush(cursor)
        print(f"  built {min(first + BATCH, n_jobs)} jobs", file=sys.stderr, end="\r")
    models = [TethysJob, CondorPyJob, CondorPyWorkflow, CondorWorkflowNode]
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), models):
            cursor.execute(sql)
    if postgres:
        _restore_indexes(connection, indexes)
    print(f"built {n_jobs} jobs in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return True


def _drop_secondary_indexes(connection, tables) -> list[str]:
    """Drop the indexes of ``tables`` that back no constraint; their definitions."""
    names = [t.table for t in tables.values()]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
            " WHERE i.indrelid::regclass::text = ANY(%s) AND NOT EXISTS"
            " (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)", [names])
        found = cursor.fetchall()
        for name, _ in found:
            cursor.execute(f"DROP INDEX {name}")
    return [definition for _, definition in found]


def _restore_indexes(connection, definitions) -> None:
    """Make the dropped indexes again, then ``VACUUM ANALYZE`` (as autovacuum would)."""
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for definition in definitions:
            cursor.execute(definition)
        cursor.execute("VACUUM ANALYZE")
    print(f"  {len(definitions)} indexes made and VACUUM ANALYZE in "
          f"{time.perf_counter() - start:.0f} s", file=sys.stderr)
