"""The database schema matches Tethys Platform 4.6's, table for table and column for
column, so that a Tethys database can be pointed at."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

TETHYS_COLUMNS = {
    "tethys_compute_scheduler": {"id", "name", "host"},
    "tethys_compute_condorscheduler": {"scheduler_ptr_id", "port", "username", "password",
                                       "private_key_path", "private_key_pass"},
    "tethys_compute_daskscheduler": {"scheduler_ptr_id", "timeout", "heartbeat_interval", "dashboard"},
    "tethys_compute_tethysjob": {"id", "name", "description", "user_id", "label", "creation_time",
                                 "execute_time", "start_time", "completion_time", "workspace",
                                 "extended_properties", "status_message",
                                 "_process_results_function", "_status", "_last_status_update"},
    "tethys_compute_tethysjob_groups": {"id", "tethysjob_id", "group_id"},
    "tethys_compute_basicjob": {"tethysjob_ptr_id"},
    "tethys_compute_condorbase": {"tethysjob_ptr_id", "cluster_id", "remote_id", "scheduler_id"},
    "tethys_compute_condorpyjob": {"condorpyjob_id", "_attributes", "_num_jobs", "_remote_input_files"},
    "tethys_compute_condorjob": {"condorbase_ptr_id", "condorpyjob_ptr_id"},
    "tethys_compute_condorpyworkflow": {"condorpyworkflow_id", "_max_jobs", "_config"},
    "tethys_compute_condorworkflow": {"condorbase_ptr_id", "condorpyworkflow_ptr_id",
                                      "node_statuses_updated"},
    "tethys_compute_condorworkflownode": {
        "id", "name", "workflow_id", "pre_script", "pre_script_args", "post_script",
        "post_script_args", "variables", "priority", "category", "retry",
        "retry_unless_exit_value", "pre_skip", "abort_dag_on", "abort_dag_on_return_value",
        "dir", "noop", "done", "cached_node_status"},
    "tethys_compute_condorworkflownode_parent_nodes": {"id", "from_condorworkflownode_id",
                                                       "to_condorworkflownode_id"},
    "tethys_compute_condorworkflowjobnode": {"condorworkflownode_ptr_id", "condorpyjob_ptr_id"},
    "tethys_compute_daskjob": {"tethysjob_ptr_id", "key", "scheduler_id", "forget", "result"},
}

# Our additions are nullable columns, so rows inserted by Tethys itself stay valid.
ADDED_TETHYSJOB_COLUMNS = {"progress", "progress_message", "_results_state", "_results_claimed_at",
                           "refresh_requested_at", "lease_owner", "lease_expires",
                           "_results_claim", "attempt", "_other_status",
                           # notifications (tethys_compute/notifications/fields.py)
                           "notify", "notify_no_progress", "notify_waiting",
                           "progress_reported_at",
                           # failed runs and retries (models/retries.py)
                           "failure_kind", "failure_reason", "first_attempt", "max_attempts",
                           "max_run_time", "retry_delay", "retry_due_at", "retry_on",
                           # per-user limits (models/quotas.py)
                           "quota_call", "quota_waiting_since",
                           # usage (models/usage.py)
                           "usage_attempts", "usage_wall_seconds", "usage_cpu_seconds",
                           "usage_peak_memory_mb", "usage_requested_memory_mb",
                           "usage_requested_cpus", "usage_disk_kb"}
# Columns we add to other Tethys tables, nullable for the same reason.
ADDED_COLUMNS = {"tethys_compute_tethysjob": ADDED_TETHYSJOB_COLUMNS,
                 "tethys_compute_condorscheduler": {"accounting_group", "max_request_memory"}}
# Not null, with a database default (0), so Tethys's inserts (which omit it) stay valid.
DB_DEFAULT_COLUMNS = {"attempt"}


def columns(table):
    with connection.cursor() as cursor:
        return {c.name: c for c in connection.introspection.get_table_description(cursor, table)}


def test_tethys_tables_and_columns_exist():
    tables = set(connection.introspection.table_names())
    for table, expected in TETHYS_COLUMNS.items():
        assert table in tables
        found = set(columns(table))
        missing = expected - found
        assert not missing, f"{table} lacks {missing}"
        extra = found - expected
        assert extra == ADDED_COLUMNS.get(table, set()), f"{table}: unexpected added columns"


def test_added_columns_are_nullable():
    for table, added in ADDED_COLUMNS.items():
        cols = columns(table)
        for name in added - DB_DEFAULT_COLUMNS:
            assert cols[name].null_ok, f"{table}.{name}"


def test_migration_names_follow_tethys():
    from django.db.migrations.recorder import MigrationRecorder

    applied = set(MigrationRecorder(connection).applied_migrations())
    for name in ("0001_initial_41", "0002_alter_tethysjob_options", "0003_cache_job_statuses"):
        assert ("tethys_compute", name) in applied


def test_no_missing_migrations():
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("makemigrations", "tethys_compute", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_custom_status_texts_left_by_tethys_move_to_their_column_and_back():
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes("tethys_compute")
    before = [("tethys_compute", "0006_run_attempt_and_results_claim")]
    try:
        executor.migrate(before)
        old = MigrationExecutor(connection).loader.project_state(before[0]).apps
        user = old.get_model("auth", "User").objects.create(username="tethys")
        Job = old.get_model("tethys_compute", "TethysJob")
        common = dict(user_id=user.pk, label="app", name="j", workspace="")
        custom = Job.objects.create(_status="OTH", extended_properties={
            "__other_status__": "Meshing", "a": 1}, **common)
        stray = Job.objects.create(_status="RUN", extended_properties={
            "__other_status__": "left over"}, **common)
        plain = Job.objects.create(_status="RUN", extended_properties=None, **common)
        executor = MigrationExecutor(connection)
        executor.migrate(latest)
        from tethys_compute.models import TethysJob

        rows = {row.pk: row for row in TethysJob.objects.all()}
        assert (rows[custom.pk]._other_status, rows[custom.pk].extended_properties) == (
            "Meshing", {"a": 1})
        assert rows[custom.pk].cached_status == "Meshing"
        assert (rows[stray.pk]._other_status, rows[stray.pk].extended_properties) == (None, {})
        assert rows[plain.pk].extended_properties is None
        MigrationExecutor(connection).migrate(before)
        back = Job.objects.get(pk=custom.pk)
        assert back.extended_properties == {"a": 1, "__other_status__": "Meshing"}
    finally:
        MigrationExecutor(connection).migrate(latest)
