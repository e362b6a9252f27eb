"""The job changelist's rows (``tethys_compute.admin.rows``): the same HTML as Django's
``{% result_list %}``, with the per-column work (reversing the change URL, resolving it
for the preserved filters, rendering the checkbox widget's templates) done once per page
instead of once per row (issue 17: rendering 100 rows was most of page 1's time)."""

from datetime import timedelta

import pytest
from django.contrib.admin.templatetags import admin_list
from django.contrib.auth import get_user_model
from django.test.signals import template_rendered
from django.urls.resolvers import URLResolver
from django.utils import timezone

from tests.admin.pages import CHANGELIST, vary
from tethys_compute.admin import row_dates, rows
from tethys_compute.models import TethysJob

pytestmark = pytest.mark.django_db



@pytest.fixture
def varied(make_job, dask_scheduler, condor_scheduler):
    """Jobs of each type, with HTML in their texts, progress, failures, empty fields."""
    jobs = [
        make_job('<b>bold</b> & "quoted"', description="x"),
        make_job("dask run", job_type="DASK", scheduler=dask_scheduler),
        make_job("condor run", job_type="CONDOR", scheduler=condor_scheduler,
                 attributes={"executable": "run.sh"}),
        make_job("blank"),
        make_job("html owner", owner=get_user_model().objects.create_user('a<b>&"c\'')),
    ]
    TethysJob.objects.filter(pk=jobs[3].pk).update(name="   ", label="")
    vary(*jobs[:3])
    return jobs


def djangos_rows(cl):
    """Each row's cells as Django's own ``items_for_result`` writes them."""
    return ["".join(admin_list.items_for_result(cl, obj, None)) for obj in cl.result_list]


@pytest.mark.parametrize("query", ["", "?status=active", "?q=run&o=2.-7",
                                   "?failure_kind__exact=engine&p=1"])
def test_rows_are_djangos_html(admin_client, varied, query):
    response = admin_client.get(CHANGELIST + query)
    assert response.status_code == 200
    cl = response.context["cl"]
    assert cl.result_list, query
    expected = djangos_rows(cl)
    assert [str(row[0]) for row in rows.rows(cl)] == expected
    body = response.content.decode()
    for row in expected:
        assert f"<tr>{row}</tr>" in body, row
    if query:  # the change links keep the list's filters, as Django's do
        assert "_changelist_filters=" in expected[0]


@pytest.mark.parametrize("query", ["", "?status=active", "?q=run&o=2.-7", "?q=dask"])
def test_the_results_table_is_djangos(admin_client, varied, query):
    """The whole ``admin/change_list_results.html`` (headers, rows, the text between
    them) as Django's ``{% result_list %}`` renders it; with Django's own template the
    rows are one item, joined with the text the template writes between rows."""
    from django.template.loader import get_template

    cl = admin_client.get(CHANGELIST + query).context["cl"]
    template = get_template("admin/change_list_results.html")
    ours = rows.result_list(cl)
    assert template.render(ours) == template.render(admin_list.result_list(cl))
    assert len(ours["results"]) == 1


def test_a_projects_own_results_template_gets_a_result_per_row(admin_client, varied,
                                                               settings, tmp_path):
    (tmp_path / "admin").mkdir()
    (tmp_path / "admin" / "change_list_results.html").write_text(
        "{% for result in results %}<tr class=mine>{% for item in result %}{{ item }}"
        "{% endfor %}</tr>{% endfor %}")
    engine = dict(settings.TEMPLATES[0])
    engine["DIRS"] = [str(tmp_path), *engine.get("DIRS", [])]
    settings.TEMPLATES = [engine, *settings.TEMPLATES[1:]]
    response = admin_client.get(CHANGELIST)
    body = response.content.decode()
    cl = response.context["cl"]
    assert body.count("<tr class=mine>") == len(cl.result_list) == len(varied)
    for row in djangos_rows(cl):
        assert f"<tr class=mine>{row}</tr>" in body


def test_an_admin_with_its_own_checkbox_keeps_it(admin_client, varied, monkeypatch):
    from tethys_compute.admin.jobs import JobAdmin

    monkeypatch.setattr(JobAdmin, "action_checkbox",
                        lambda self, obj: f"<i>{obj.pk}</i>", raising=False)
    cl = admin_client.get(CHANGELIST).context["cl"]
    made = [str(row[0]) for row in rows.rows(cl)]
    assert made == djangos_rows(cl)
    assert "&lt;i&gt;" in made[0]


def test_popup_changelist_is_djangos(admin_client, varied):
    response = admin_client.get(CHANGELIST + "?_popup=1&_to_field=id")
    assert response.status_code == 200
    body = response.content.decode()
    assert "data-popup-opener=" in body


def page_work(client, monkeypatch, count_templates=True):
    """Templates rendered, URL reversals and resolutions of one changelist request."""
    counts = {"templates": 0, "reverse": 0, "resolve": 0}

    def rendered(sender, **kwargs):
        counts["templates"] += 1

    for name, key in (("_reverse_with_prefix", "reverse"), ("resolve", "resolve")):
        original = getattr(URLResolver, name)

        def counted(self, *args, original=original, key=key, **kwargs):
            counts[key] += 1
            return original(self, *args, **kwargs)

        monkeypatch.setattr(URLResolver, name, counted)
    template_rendered.connect(rendered)
    try:
        response = client.get(CHANGELIST + "?status=active")
    finally:
        template_rendered.disconnect(rendered)
        monkeypatch.undo()
    assert response.status_code == 200
    return counts, len(response.context["cl"].result_list)


def test_the_work_of_a_page_does_not_grow_with_its_rows(admin_client, make_job, monkeypatch):
    """3 rows and 12 rows: the same number of template renders, reversals and
    resolutions (Django's tag did a checkbox render, a reverse and a resolve per row)."""
    for i in range(3):
        make_job(f"first {i}")
    few, shown = page_work(admin_client, monkeypatch)
    assert shown == 3
    for i in range(9):
        make_job(f"more {i}")
    many, shown = page_work(admin_client, monkeypatch)
    assert shown == 12
    assert many == few, (few, many)


@pytest.mark.parametrize("language", ["en", "de", "fr", "ja", "pt-br"])
@pytest.mark.parametrize("fmt", [None, "Y-m-d H:i:s", r"\N\o\w: N jS, P (l)", "c", "D, F j, Y g:i A"])
def test_dates_are_djangos_text(language, fmt, monkeypatch):
    from django.utils import formats, translation

    if fmt is not None:
        real = formats.get_format
        monkeypatch.setattr(formats, "get_format", lambda name, *a, **k: fmt
                            if name == "DATETIME_FORMAT" else real(name, *a, **k))
    start = timezone.make_aware(timezone.datetime(2026, 3, 28, 23, 0, 7))
    values = [start + timedelta(minutes=37 * i, seconds=i) for i in range(120)]
    values += [start.replace(hour=0, minute=0), start.replace(hour=12, minute=0)]
    with translation.override(language):
        text_of = row_dates.DateTimeText()
        assert [text_of(v) for v in values] == [
            formats.localize(timezone.template_localtime(v)) for v in values]


#: Functions Django's tag (and the rows before this change) called for each row: the
#: column lookup, the time zone conversion of each date, and Django's lazy-aware
#: wrappers (``escape``, ``conditional_escape``, ``format_html``, ``mark_safe``).
PER_ROW_BEFORE = {("utils.py", "lookup_field"), ("timezone.py", "template_localtime"),
                  ("functional.py", "wrapper"), ("html.py", "format_html"),
                  ("html.py", "conditional_escape"),
                  # and the translation of "a.m."/"p.m." in each date's time ("P", "a",
                  # "A"): a page's dates are mostly in different minutes.
                  ("trans_real.py", "gettext")}


def rows_work(cl):
    """Python function calls made by ``rows.rows(cl)``: in all, and of PER_ROW_BEFORE."""
    import os
    import sys

    counts = {"calls": 0, "named": 0}

    def profile(frame, event, arg):
        if event == "call":
            counts["calls"] += 1
            code = frame.f_code
            if (os.path.basename(code.co_filename), code.co_name) in PER_ROW_BEFORE:
                counts["named"] += 1

    sys.setprofile(profile)
    try:
        made = rows.rows(cl)
    finally:
        sys.setprofile(None)
    assert [str(row[0]) for row in made] == djangos_rows(cl)
    return counts


def test_a_rows_columns_are_resolved_once_per_page(admin_client, make_job):
    """3 rows and 12 rows: no column lookup, time zone conversion or lazy-aware escaping
    per row (before this change: 122 such calls for 3 rows, 473 for 12, i.e. 39 per
    row; then a translation of "a.m."/"p.m." per date in a minute of its own), and fewer
    than 120 Python calls per row in all (before: 235; now 110)."""
    # Each row's execute time in a minute of its own, all in the current hour (the
    # "a.m."/"p.m." texts are translated once per hour of the page).
    hour = timezone.now().replace(minute=0, second=0)
    for i in range(3):
        job = make_job(f"first <{i}>")
        TethysJob.objects.filter(pk=job.pk).update(
            execute_time=hour + timedelta(minutes=i), status_message=f"step {i}")
    few = rows_work(admin_client.get(CHANGELIST).context["cl"])
    for i in range(9):
        job = make_job(f"more & {i}")
        TethysJob.objects.filter(pk=job.pk).update(
            execute_time=hour + timedelta(minutes=3 + 5 * i), status_message=f"step {i}")
    many = rows_work(admin_client.get(CHANGELIST).context["cl"])
    per_row = (many["calls"] - few["calls"]) / 9
    assert many["named"] == few["named"], (few, many)
    assert per_row < 120, (few, many, per_row)
