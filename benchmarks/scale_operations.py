"""The operations ``scale.py`` times: the jobs table (first page, later pages, sorted,
searched; a user's table and a whole app's; the poll of 25 active rows), ``list_jobs``
in each documented order, the admin changelist with each filter and search, and the job
page of each job type. Call :func:`operations` once Django is set up."""

from __future__ import annotations

TABLE_OPTIONS = {"enable_data_table": True,
                 "data_table_options": {"paging": True, "pageLength": 10, "searching": True,
                                        "ordering": True}}
COLUMNS = ["id", "name", "creation_time", "status"]


def ok(response):
    assert response.status_code == 200, (response.status_code, response.content[:300])
    return response


def operations() -> dict:
    """``{name: callable}`` of every operation, in the order they are printed."""
    from django.contrib.auth.models import User
    from django.test import Client
    from django.urls import reverse

    from tethys_compute.gizmos import JobsTable
    from tethys_compute.job_manager import JobManager
    from tethys_compute.models import TethysJob

    class App:
        package = "app_b"

    manager = JobManager(App())
    user = User.objects.get(username="user7")  # in group7; app_b has their jobs
    admin_user = User.objects.get(is_superuser=True)

    def client(who):
        browser = Client()
        browser.force_login(who)
        return browser

    ops: dict = {}
    # --- the jobs table over list_jobs(): first page (rendered with the table), later
    # pages, sorted, searched, through the rows endpoint as the browser calls it ---------
    rows_url = reverse("jobs_table_rows")
    for who, viewer, jobs in (("user", user, lambda: manager.list_jobs(user=user)),
                              ("whole app", admin_user, lambda: manager.list_jobs())):
        context = JobsTable(jobs=jobs(), column_fields=COLUMNS, **TABLE_OPTIONS).get_context()
        browser = client(viewer)

        def page(browser=browser, context=context, **params):
            data = {"config": context["config_token"], "rows": context.get("rows_token") or "",
                    **params}
            return ok(browser.post(rows_url, data))

        last = context["page"]["pages"]
        ops[f"table ({who}): first page, rendered"] = (
            lambda jobs=jobs: JobsTable(jobs=jobs(), column_fields=COLUMNS,
                                        **TABLE_OPTIONS).get_context())
        ops[f"table ({who}): page 2"] = lambda page=page: page(page=2)
        ops[f"table ({who}): last page ({last})"] = lambda page=page, last=last: page(page=last)
        ops[f"table ({who}): sorted by name, page 1"] = \
            lambda page=page: page(page=1, sort=1, dir="asc")
        ops[f"table ({who}): sorted by name desc, page 3"] = \
            lambda page=page: page(page=3, sort=1, dir="desc")
        ops[f"table ({who}): sorted by creation_time desc, page 2"] = \
            lambda page=page: page(page=2, sort=2, dir="desc")
        ops[f"table ({who}): sorted by status, page 2"] = \
            lambda page=page: page(page=2, sort=3, dir="asc")
        ops[f"table ({who}): search 'job 4242'"] = lambda page=page: page(page=1, q="job 4242")

    # --- the poll of 25 active rows ------------------------------------------------------
    poll_url = reverse("jobs_table_poll")
    active = list(manager.list_jobs().filter(_status="RUN").order_by("-id")[:25])
    token = JobsTable(jobs=active, column_fields=COLUMNS).table_config().dumps()
    holder = client(admin_user)
    body = {"config": token, "rows": {str(job.pk): "x" for job in active}}
    ops["poll of 25 active rows (permission holder)"] = lambda: ok(holder.post(
        poll_url, body, content_type="application/json"))
    shared = TethysJob.objects.filter(label="app_b", _status="RUN", groups__isnull=False)
    group = shared.values_list("groups", flat=True).first()
    member = User.objects.filter(groups=group, is_superuser=False).first()
    shared_active = list(TethysJob.objects.filter(label="app_b", _status="RUN")
                         .visible_to(member).order_by("-id")[:25])
    assert shared_active, "no active job shared with a group"
    member_token = JobsTable(jobs=shared_active, column_fields=COLUMNS).table_config().dumps()
    member_browser = client(member)
    member_body = {"config": member_token, "rows": {str(j.pk): "x" for j in shared_active}}
    ops["poll of 25 active rows (user in a group)"] = lambda: ok(member_browser.post(
        poll_url, member_body, content_type="application/json"))

    # --- list_jobs()[:25], a user's and the whole app's, in each documented order -------
    for order in ("id", "-id", "creation_time", "-creation_time"):
        ops[f"list_jobs(user, order_by={order!r})[:25]"] = \
            lambda order=order: list(manager.list_jobs(user=user, order_by=order)[:25])
        ops[f"list_jobs(order_by={order!r})[:25]"] = \
            lambda order=order: list(manager.list_jobs(order_by=order)[:25])
    some_job = manager.list_jobs(user=user).order_by("-id").first()
    ops["get_job(id, user)"] = lambda: manager.get_job(some_job.pk, user=user)

    # --- the admin -----------------------------------------------------------------------
    admin = client(admin_user)
    changelist = reverse("admin:tethys_compute_tethysjob_changelist")
    year = some_job.creation_time.year
    queries = {
        "page 1": "",
        "page 50": "?p=50",  # (or the last page there is)
        "?status=active": "?status=active",
        "?status=ERR": "?status=ERR",
        "?type=CondorWorkflow": "?type=CondorWorkflow",
        "?type=DaskJob": "?type=DaskJob",
        "?failure_kind=engine": "?failure_kind=engine",
        "?app=app_b": "?app=app_b",
        "?user__id__exact=<user7>": f"?user__id__exact={user.pk}",
        "?creation_time past 7 days": "?creation_time__gte={week}&creation_time__lt={tomorrow}",
        "?completion_time this year": f"?completion_time__gte={year}-01-01"
                                      f"&completion_time__lt={year + 1}-01-01",
        "?creation_time__year=<year>": f"?creation_time__year={year}",
        "?q=job 4242": "?q=job+4242",
        # tethys_compute.bounded: an id, a window substring, a text most names start
        # with, and a search within an app's filter.
        "?q=<id>": f"?q={some_job.pk}",
        "?q=study (window)": "?q=study",
        "?q=job (most names)": "?q=job",
        "?app=app_b&q=job 4242": "?app=app_b&q=job+4242",
    }
    from datetime import date, timedelta

    today = date.today()
    last_admin_page = max(1, min(50, TethysJob.objects.count() // 100))
    queries["page 50"] = f"?p={last_admin_page}"
    for name, query in queries.items():
        query = query.format(week=today - timedelta(days=7), tomorrow=today + timedelta(days=1))
        ops[f"admin changelist {name}"] = lambda query=query: ok(admin.get(changelist + query))
    from tethys_compute.admin.job_filters import job_type_q

    for kind in ("BasicJob", "CondorJob", "CondorWorkflow", "DaskJob"):
        job = TethysJob.objects.filter(job_type_q(kind), label="app_b").order_by("-id").first()
        url = reverse("admin:tethys_compute_tethysjob_change", args=[job.pk])
        ops[f"admin job page ({kind})"] = lambda url=url: ok(admin.get(url))
    return ops
