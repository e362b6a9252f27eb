"""JobsTable options: Tethys's arguments, defaults and errors (reference section 6.2)."""

import logging

import pytest

from tethys_compute.gizmos import CustomJobAction, JobsTable
from tethys_compute.jobs_table.tokens import TableConfig
from tethys_compute.models import TethysJob

from . import actions_for_tests as acts

pytestmark = pytest.mark.django_db


def test_import_path_matches_tethys_sdk_gizmos():
    import tethys_compute.gizmos as gizmos

    assert gizmos.JobsTable is JobsTable
    assert gizmos.CustomJobAction is CustomJobAction
    assert JobsTable.gizmo_name == "jobs_table"


def test_defaults_are_tethys_defaults(make_job):
    table = JobsTable(jobs=[make_job()], column_fields=["id"])
    assert isinstance(table, dict)
    assert table["show_status"] is True and table.show_status is True
    assert (table.show_actions, table.hover, table.striped, table.bordered, table.condensed) == (
        True, False, False, False, False)
    assert table.attributes == {} and table.classes == ""
    assert table.refresh_interval == 5000
    assert table.delay_loading_status is True
    assert table.show_detailed_status is False
    assert table.enable_data_table is False
    assert table.data_table_options == {"ordering": True, "searching": False, "paging": False}
    assert table.monitor_url == "" and table.results_url == ""
    assert table.active_statuses == ["Submitted", "Running", "Various", "Paused"]
    # Default actions without monitor/results URLs: those two are removed (as Tethys).
    assert list(table.actions) == ["Run", "Resubmit", "_sep_2", "View Logs", "_sep_4",
                                   "Terminate", "Delete"]
    assert table.actions["_sep_2"] == {"sep": 2}
    assert table.actions["Delete"]["confirmation_message"] == (
        "Are you sure you want to permanently delete this job?")
    assert table.actions["Terminate"]["show_overlay"] is True


def test_monitor_and_results_urls_are_kept_appended_and_stored(make_job):
    table = JobsTable(jobs=[make_job()], column_fields=["id"],
                      monitor_url="/monitor/{job_id}/", results_url="/results/")
    assert table.monitor_url == "/monitor/{job_id}/"
    assert table.results_url == "/results/"
    assert "Monitor Job" in table.actions and "View Results" in table.actions
    appended = JobsTable(jobs=[make_job()], column_fields=["id"], actions=["run"],
                         monitor_url="/m/{job_id}/")
    assert list(appended.actions) == ["Run", "Monitor Job"]
    config = appended.table_config()
    assert config.links == {"monitor": "/m/{job_id}/", "results": ""}
    assert config.actions == ["run", "monitor"]


def test_url_names_for_links_must_reverse_with_a_job_id(make_job):
    with pytest.raises(ValueError, match="can be reversed with a job_id argument"):
        JobsTable(jobs=[make_job()], column_fields=["id"], monitor_url="admin:index")
    with pytest.raises(ValueError, match="absolute path"):
        JobsTable(jobs=[make_job()], column_fields=["id"], results_url="javascript:alert(1)//")


def test_unknown_action_raises_tethys_error(make_job):
    with pytest.raises(ValueError, match='The action "explode" is not a valid default action.'):
        JobsTable(jobs=[make_job()], column_fields=["id"], actions=["run", "explode"])
    with pytest.raises(ValueError, match="Invalid action"):
        JobsTable(jobs=[make_job()], column_fields=["id"], actions=[42])


def test_custom_actions_as_object_tuple_and_dict(make_job):
    obj = CustomJobAction("Archive", acts.archive, enabled_callback=acts.not_archived)
    table = JobsTable(
        jobs=[make_job()], column_fields=["id"],
        actions=["run", "|", obj, ("Archive Twice", acts.archive),
                 {"label": "Details", "modal_url": "/details/{job_id}/"}],
    )
    assert list(table.actions) == ["Run", "_sep_1", "Archive", "Archive Twice", "Details"]
    assert table.actions["Archive"] == {
        "callback": "archive", "url": None, "modal_url": None,
        "confirmation_message": None, "show_overlay": False,
    }
    entries = [a for a in table.table_config().actions if isinstance(a, dict)]
    assert [entry["custom"] for entry in entries][0] == obj.name
    assert entries[0]["def"]["callback"] == "tests.jobs_table.actions_for_tests.archive"


def test_sort_by_creation_time_callable_and_reverse(make_job):
    first, second, third = make_job("c"), make_job("a"), make_job("b")
    assert [j.name for j in JobsTable(jobs=[third, first, second], column_fields=["id"]).jobs] == [
        "c", "a", "b"]
    assert [j.name for j in JobsTable(jobs=[first, second, third], column_fields=["id"],
                                      reverse_sort=True).jobs] == ["b", "a", "c"]
    by_name = JobsTable(jobs=[first, second, third], column_fields=["id"],
                        sort=lambda job: job.name)
    assert [j.name for j in by_name.jobs] == ["a", "b", "c"]
    unsorted = JobsTable(jobs=[third, first], column_fields=["id"], sort=False)
    assert [j.name for j in unsorted.jobs] == ["b", "c"]


def test_base_class_rows_are_loaded_as_their_own_classes(make_job, django_assert_num_queries):
    job = make_job()
    base = list(TethysJob.objects.filter(pk=job.pk))
    assert type(base[0]) is TethysJob
    with django_assert_num_queries(1):
        table = JobsTable(jobs=base, column_fields=["id"])
    assert type(table.jobs[0]).__name__ == "BasicJob"


def test_column_fields_titles_and_invalid_fields_dropped_with_warning(make_job, caplog):
    job = make_job()
    with caplog.at_level(logging.WARNING, logger="tethys_compute.jobs_table"):
        table = JobsTable(jobs=[job], column_fields=[
            "id", ("Created", "creation_time"), "run_time", "extended_properties.a.b_c",
            "no_such_field"])
    assert table.column_names == ["Id", "Created", "Run Time", "B C"]
    assert table.column_fields == ["id", "creation_time", "run_time", "extended_properties.a.b_c"]
    assert "no_such_field" in caplog.text
    with pytest.raises(ValueError, match="column_fields must be a list"):
        JobsTable(jobs=[job], column_fields="id")
    with pytest.raises(ValueError, match="Invalid column field"):
        JobsTable(jobs=[job], column_fields=[("Title",)])


def test_bad_options_give_clear_errors(make_job):
    job = make_job()
    with pytest.raises(ValueError, match="refresh_interval"):
        JobsTable(jobs=[job], column_fields=["id"], refresh_interval=0)
    with pytest.raises(ValueError, match="not an allowed HTML attribute"):
        JobsTable(jobs=[job], column_fields=["id"], attributes={"onclick": "steal()"})
    with pytest.raises(ValueError, match="not an allowed HTML attribute"):
        JobsTable(jobs=[job], column_fields=["id"], attributes={'x" y': "1"})
    with pytest.raises(ValueError, match="data_table_options must be a dict"):
        JobsTable(jobs=[job], column_fields=["id"], data_table_options=["paging"])
    table = JobsTable(jobs=[job], column_fields=["id"], enable_data_table=True,
                      data_table_options={"paging": True, "pageLength": 0})
    with pytest.raises(ValueError, match="pageLength"):
        table.table_config()


def test_config_token_round_trip_and_tamper_detection(make_job):
    job = make_job(label="test_app")
    table = JobsTable(jobs=[job], column_fields=["id", ("N", "name")], show_detailed_status=True,
                      enable_data_table=True)
    token = table.table_config().dumps()
    config = TableConfig.loads(token)
    assert [(c.title, c.field) for c in config.columns] == [("Id", "id"), ("N", "name")]
    assert config.labels == ["test_app"]
    assert config.show_detailed_status is True
    assert config.data_table == {"ordering": True, "paging": False, "page_length": 10,
                                 "searching": False}
    from tethys_compute.jobs_table.tokens import BadTableToken

    with pytest.raises(BadTableToken):
        TableConfig.loads(token[:-2] + ("aa" if not token.endswith("aa") else "bb"))
    with pytest.raises(BadTableToken):
        TableConfig.loads("")


def test_rows_property_reads_the_database_only(make_job, django_assert_max_num_queries):
    jobs = [make_job(f"j{i}", status="RUN") for i in range(5)]
    table = JobsTable(jobs=jobs, column_fields=["name"])
    with django_assert_max_num_queries(2):
        rows = table.rows
    assert [row["status"] for row in rows] == ["Running"] * 5


def test_empty_table_empties_column_fields_and_names_as_tethys():
    """Tethys validates columns against the first job; with none, its table has no
    columns (only Status and Actions), ``column_fields`` and ``column_names`` empty."""
    table = JobsTable(jobs=[], column_fields=["id", ("Created", "creation_time"), "name"])
    assert table.column_fields == [] and table.column_names == []
    assert table.num_cols == 2
    html = render_table(table)
    assert "No Jobs" in html and 'colspan="2"' in html
    empty_queryset = JobsTable(jobs=TethysJob.objects.none(), column_fields=["id"],
                               enable_data_table=True, data_table_options={"paging": True})
    assert empty_queryset.column_fields == [] and empty_queryset.column_names == []


def render_table(table):
    from django.template import Context, Template

    return Template("{% load tethys_compute %}{% jobs_table table %}").render(
        Context({"table": table}))


@pytest.mark.parametrize(("legacy", "dropped"), [
    ({"delete_btn": False}, "Delete"), ({"run_btn": False}, "Run"),
    ({"show_resubmit_btn": False}, "Resubmit"), ({"show_log_btn": False}, "View Logs"),
])
def test_legacy_button_kwargs_are_accepted_with_a_warning(make_job, caplog, legacy, dropped):
    """F14: Tethys 2/3's ``delete_btn`` & co. raise TypeError in Tethys 4; we accept them
    with a logged warning (a False one removes its action from the default menu)."""
    with caplog.at_level(logging.WARNING, logger="tethys_compute.jobs_table"):
        table = JobsTable(jobs=[make_job()], column_fields=["id"], **legacy)
    assert dropped not in table.actions
    assert f"{next(iter(legacy))} is a Tethys 2/3 argument" in caplog.text
    no_logs = JobsTable(jobs=[make_job()], column_fields=["id"], show_log_btn=False)
    assert list(no_logs.actions) == ["Run", "Resubmit", "_sep_2", "Terminate", "Delete"]
    kept = JobsTable(jobs=[make_job()], column_fields=["id"], delete_btn=True, run_btn=True)
    assert list(kept.actions) == ["Run", "Resubmit", "_sep_2", "View Logs", "_sep_4",
                                  "Terminate", "Delete"]
    # With an explicit menu the legacy flags change nothing (the menu says it all).
    explicit = JobsTable(jobs=[make_job()], column_fields=["id"], actions=["delete"],
                         delete_btn=False)
    assert list(explicit.actions) == ["Delete"]


def test_unknown_kwargs_still_raise_type_error(make_job):
    with pytest.raises(TypeError, match="no_such_option"):
        JobsTable(jobs=[make_job()], column_fields=["id"], no_such_option=True)


def test_creation_time_order_overrides_the_querysets_order_as_tethys(make_job):
    """F15: since Tethys 4.2 the table sorts by creation_time, ascending, whatever order
    the jobs came in (the Dask tutorial's ``list_jobs(order_by='-id')`` shows oldest
    first). ``sort=False`` keeps the queryset's order; ``reverse_sort=True`` puts the
    newest first."""
    jobs = [make_job(f"job {i}") for i in range(3)]
    newest_first = TethysJob.objects.filter(pk__in=[j.pk for j in jobs]).order_by("-id")
    assert [j.name for j in JobsTable(jobs=newest_first, column_fields=["id"]).jobs] == [
        "job 0", "job 1", "job 2"]
    assert [j.name for j in JobsTable(jobs=newest_first, column_fields=["id"],
                                      sort=False).jobs] == ["job 2", "job 1", "job 0"]
    assert [j.name for j in JobsTable(jobs=newest_first, column_fields=["id"],
                                      reverse_sort=True).jobs] == ["job 2", "job 1", "job 0"]


REAL_CLIENT_KWARGS = {
    # C2, the Dask tutorial: a Tethys 3 kwarg (delete_btn), a results URL name.
    "dask_tutorial": dict(column_fields=("id", "name", "description", "creation_time"),
                          hover=True, striped=False, bordered=False, condensed=False,
                          results_url="job_results", refresh_interval=1000, delete_btn=True,
                          show_detailed_status=True),
    # C5/C6 (Aquaveo): one job in a list, run/execute times, role-based show_actions.
    "aquaveo": dict(column_fields=("id", ("Step", "name"), "extended_properties.step",
                                   "execute_time", "run_time"),
                    show_status=True, show_actions=False, show_detailed_status=True,
                    refresh_interval=30000, monitor_url="job_monitor",
                    actions=["run", "pause", "resume", "|", "logs", "|", "terminate", "delete",
                             {"label": "Archive", "callback_or_url": acts.archive}]),
    # C3, the Gizmo Showcase: tuple titles, delay_loading_status, both URL names.
    "gizmo_showcase": dict(column_fields=("id", "name", ("Created At", "creation_time"),
                                          "extended_properties.parity"),
                           hover=True, delay_loading_status=True, refresh_interval=10000,
                           monitor_url="job_monitor", results_url="job_results",
                           show_detailed_status=True),
}


@pytest.mark.urls("tests.jobs_table.urls")
@pytest.mark.parametrize("client", sorted(REAL_CLIENT_KWARGS))
def test_real_clients_constructor_kwargs_build_and_render(make_job, client):
    """F14: the JobsTable kwargs real apps pass (reference section 2) build and render."""
    job = make_job("only", status="RUN", extended_properties={"step": "a", "parity": "odd"})
    jobs = [job] if client == "aquaveo" else TethysJob.objects.filter(pk=job.pk)
    table = JobsTable(jobs=jobs, **REAL_CLIENT_KWARGS[client])
    html = render_table(table)
    assert f'id="jobs-table-row-{job.pk}"' in html
    assert len(table.column_fields) == len(REAL_CLIENT_KWARGS[client]["column_fields"])
    if client == "aquaveo":
        assert 'class="actions-col"' not in html and table.column_names[1] == "Step"
    if client == "gizmo_showcase":
        assert f'data-href-monitor="/monitor/{job.pk}/"' in html
