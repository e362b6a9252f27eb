"""``manage.py tethys_compute_jobs``: list, show, terminate, resubmit and prune jobs.

Listing reads cached statuses only (no engine is contacted). ``prune`` deletes finished
jobs through the ORM, so each deletion stops the job's remote work and removes its own
directory (the core's delete receivers); it is a dry run unless ``--yes`` is given.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from ... import status as st
from ...admin.job_filters import added_fields, job_type_q, job_types, status_q
from ...admin.jobs import owner_name, workflow_nodes
from ...admin.logs import resolve_logs, sections_as_dict
from ...exceptions import RemoteWorkNotStopped
from ...jobs_table.usage_column import memory_text
from ...models import CondorPyWorkflow, DaskSerializedField, TethysJob
from ...models.usage import GROUPINGS, parse_period, usage_totals
from ._arguments import MAX_INT, no_nul_anywhere, seconds, text, whole_number
from ._output import format_table, parse_when, to_json, when

#: Jobs deleted per database transaction by ``prune``.
PRUNE_BATCH = 200
#: Largest ``prune --older-than`` (days): a hundred years.
MAX_DAYS = 36500


def parse_status(text, *, finished_only=False):
    """A ``--status`` value: a code (``COM``), a display name (``Complete``), or
    ``active`` / ``finished``; case-insensitive.

    :raises CommandError: for anything else, or a non-finished status when
        ``finished_only``.
    """
    value = text.strip()
    by_name = {name.lower(): code for code, name in st.STATUSES}
    by_name.update({code.lower(): code for code in st.VALID_STATUSES})
    if not finished_only:
        by_name.update({"active": "active", "finished": "finished"})
    else:
        by_name["finished"] = "finished"
    code = by_name.get(value.lower())
    if code is None:
        choices = ", ".join(st.VALID_STATUSES)
        raise CommandError(f'Unknown status "{text}": use a code ({choices}), a name '
                           '("Complete"), "active" or "finished".')
    if finished_only and code not in st.TERMINAL_STATUS_CODES and code != "finished":
        raise CommandError(f'prune deletes finished jobs only; "{text}" is not a finished '
                           f"status ({', '.join(st.TERMINAL_STATUS_CODES)}).")
    return code


def get_job(job_id) -> TethysJob:
    """Job ``job_id`` as its own class.

    :raises CommandError: for a non-numeric or unknown id.
    """
    try:
        pk = int(job_id)
    except (TypeError, ValueError):
        raise CommandError(f'A job id is a number, not "{job_id}".') from None
    if not 1 <= pk <= MAX_INT:
        raise CommandError(f"No job with id {pk}.")
    try:
        return TethysJob.objects.get_subclass(pk=pk)
    except TethysJob.DoesNotExist:
        raise CommandError(f"No job with id {pk}.") from None


def job_summary(job) -> dict:
    return {
        "id": job.pk,
        "name": job.name,
        "type": job.type,
        "app": job.label,
        "user": getattr(job, "owner_username", None) or job.user.get_username(),
        "status": job.cached_status,
        "status_code": job._status,
        "created": job.creation_time,
        "executed": job.execute_time,
        "completed": job.completion_time,
    }


def job_details(job) -> dict:
    """Every stored field of ``job`` (its own class's too), its status history and its
    status, JSON-ready."""
    data = job_summary(job)
    data.update({
        "description": job.description,
        "workspace": job.workspace,
        "groups": list(job.groups.values_list("name", flat=True)),
        "status_message": job.status_message,
        "progress": job.progress,
        "progress_message": job.progress_message,
        "started": job.start_time,
        "last_status_check": job._last_status_update,
        "process_results_function": job._process_results_function,
        "extended_properties": job.extended_properties,
    })
    own = {}
    for field in added_fields(type(job)):
        value = getattr(job, field.attname)
        if not isinstance(field, DaskSerializedField) and not isinstance(
                value, (dict, list, int, float, bool, type(None))):
            value = field.value_to_string(job)
        own[field.attname.lstrip("_")] = value
    data["fields"] = own
    if isinstance(job, CondorPyWorkflow):
        data["nodes"] = list(workflow_nodes(job))
    data["status_history"] = [
        {"time": change.time, "from": change.old_status or None, "to": change.new_status,
         "other_status": change.other_status or None, "reason": change.reason,
         "attempt": change.attempt, "failure_kind": change.failure_kind or None}
        for change in job.status_history.all()
    ]
    return data


class Command(BaseCommand):
    help = "List, show, terminate, resubmit and prune jobs."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

        p = sub.add_parser("list", help="List jobs (cached statuses; newest first).")
        self._add_filters(p)
        p.add_argument("--type", dest="job_type", help="Job class, e.g. DaskJob.")
        p.add_argument("--search", help="Text in the name or description.")
        p.add_argument("--created-after", help="Date (YYYY-MM-DD) or ISO date-time.")
        p.add_argument("--created-before", help="Date (YYYY-MM-DD) or ISO date-time.")
        p.add_argument("--limit", type=int, default=100,
                       help="Show at most this many jobs (default 100; 0: all).")
        p.add_argument("--format", dest="output_format", choices=("table", "json"),
                       default="table")

        p = sub.add_parser("show", help="Show one job: fields, status history, logs.")
        p.add_argument("job_id")
        p.add_argument("--logs", action="store_true",
                       help="Also read the job's logs (may contact its engine).")
        p.add_argument("--format", dest="output_format", choices=("text", "json"),
                       default="text")

        p = sub.add_parser("terminate", help="Stop jobs (job.stop()).")
        p.add_argument("job_ids", nargs="+", metavar="job_id")

        p = sub.add_parser("resubmit", help="Run finished jobs again (job.resubmit()).")
        p.add_argument("job_ids", nargs="+", metavar="job_id")

        p = sub.add_parser(
            "prune", help="Delete finished jobs and their directories (dry run by default).")
        p.add_argument("--older-than", type=float, required=True, metavar="DAYS",
                       help="Only jobs that finished (or, if never run, were created) at "
                            "least this many days ago.")
        self._add_filters(p, finished_only=True)
        p.add_argument("--yes", "--execute", dest="execute", action="store_true",
                       help="Really delete (without it, only show what would go).")

        p = sub.add_parser(
            "usage", help="Usage totals per user or per app over a period (job.usage).")
        p.add_argument("--by", choices=GROUPINGS, default="user",
                       help="Group by the jobs' owner (user) or app (default: user).")
        p.add_argument("--since", default="30d",
                       help="Jobs created in this period: 90m, 12h, 30d, 2w, or a date "
                            "(YYYY-MM-DD or ISO date-time). Default 30d.")
        p.add_argument("--app", help="Only this app's jobs (package, the jobs' label).")
        p.add_argument("--format", dest="output_format", choices=("table", "json"),
                       default="table")

    def _add_filters(self, parser, finished_only=False):
        parser.add_argument("--app", help="App package (the jobs' label).")
        parser.add_argument("--user", help="Owner's user name.")
        parser.add_argument(
            "--status", action="append", default=[],
            help="Status code or name; repeatable. "
                 + ("Finished statuses only (default: all of them)." if finished_only
                    else '"active" and "finished" select groups.'))

    def handle(self, *args, action, **options):
        no_nul_anywhere(options)
        getattr(self, "do_" + action)(**options)

    # --- selection -------------------------------------------------------------------
    def _filtered(self, app=None, user=None, status=(), finished_only=False, **options):
        text(app, "--app")
        text(user, "--user")
        jobs = TethysJob.objects.all()
        if app:
            jobs = jobs.for_app(app)
        if user:
            user_model = get_user_model()
            if not user_model._default_manager.filter(
                    **{user_model.USERNAME_FIELD: user}).exists():
                raise CommandError(f'No user "{user}".')
            jobs = jobs.filter(**{f"user__{user_model.USERNAME_FIELD}": user})
        codes = [parse_status(text, finished_only=finished_only) for text in status]
        if finished_only and not codes:
            codes = ["finished"]
        if codes:
            matching = Q(pk__in=[])
            for code in dict.fromkeys(codes):
                matching |= Q(pk__in=status_q(TethysJob.objects.all(), code).values("pk"))
            jobs = jobs.filter(matching)
        return jobs

    # --- usage -----------------------------------------------------------------------
    def do_usage(self, by="user", since="30d", app=None, output_format="table", **options):
        text(app, "--app")
        try:
            start = timezone.now() - parse_period(since)
        except ValueError as exc:
            try:
                start = parse_when(since, "--since")
            except CommandError:
                raise CommandError(f"--since: {exc} Or a date (YYYY-MM-DD).") from None
        jobs = TethysJob.objects.for_app(app) if app else None
        rows = usage_totals(by, since=start, jobs=jobs)
        if output_format == "json":
            self.stdout.write(to_json({"by": by, "since": start, "totals": rows}))
            return
        self.stdout.write(format_table(
            (by, "jobs", "measured", "wall h", "CPU h", "peak memory", "disk"),
            [(row[by], row["jobs"], row["measured_jobs"], f"{row['wall_seconds'] / 3600:.2f}",
              f"{row['cpu_seconds'] / 3600:.2f}",
              memory_text(row["peak_memory_mb"], row["requested_memory_mb"]),
              memory_text(row["disk_kb"] / 1024, None) if row["disk_kb"] is not None else "")
             for row in rows]))
        self.stdout.write(f"Jobs created since {when(start)}; {len(rows)} {by}(s).")

    # --- list ------------------------------------------------------------------------
    def do_list(self, job_type=None, search=None, created_after=None, created_before=None,
                limit=100, output_format="table", **options):
        limit = whole_number(limit, "--limit")
        text(search, "--search")
        text(job_type, "--type")
        jobs = self._filtered(**options)
        if job_type:
            types = job_types()
            if job_type not in types:
                raise CommandError(f'Unknown job type "{job_type}" (job types: '
                                   f"{', '.join(types)}).")
            jobs = jobs.filter(job_type_q(job_type))
        if search:
            jobs = jobs.filter(Q(name__icontains=search) | Q(description__icontains=search))
        if created_after:
            jobs = jobs.filter(creation_time__gte=parse_when(created_after, "--created-after"))
        if created_before:
            jobs = jobs.filter(creation_time__lt=parse_when(created_before, "--created-before"))
        total = jobs.count()
        jobs = jobs.select_subclasses().annotate(owner_username=owner_name())
        jobs = jobs.order_by("-pk")
        rows = [job_summary(job) for job in (jobs[:limit] if limit else jobs)]
        if output_format == "json":
            self.stdout.write(to_json(rows))
        else:
            self.stdout.write(format_table(
                ("ID", "NAME", "TYPE", "APP", "USER", "STATUS", "CREATED", "COMPLETED"),
                [(r["id"], r["name"], r["type"], r["app"], r["user"], r["status"],
                  when(r["created"]), when(r["completed"])) for r in rows]))
            self.stdout.write(f"{len(rows)} of {total} job(s) shown.")

    # --- show ------------------------------------------------------------------------
    def do_show(self, job_id, logs=False, output_format="text", **options):
        job = get_job(job_id)
        data = job_details(job)
        sections = None
        if logs:
            try:
                sections = resolve_logs(job.get_logs())
            except Exception as exc:  # noqa: BLE001 - reported, the rest is still shown
                data["logs_error"] = str(exc) or type(exc).__name__
            else:
                data["logs"] = sections_as_dict(sections)
        if output_format == "json":
            self.stdout.write(to_json(data))
            return
        fields = data.pop("fields")
        history = data.pop("status_history")
        nodes = data.pop("nodes", None)
        data.pop("logs", None)
        for key, value in data.items():
            shown = when(value) if key in ("created", "executed", "completed", "started",
                                           "last_status_check") else value
            self.stdout.write(f"{key.replace('_', ' ')}: {'' if shown is None else shown}")
        if fields:
            self.stdout.write(f"\n{job.type} fields:")
            for key, value in fields.items():
                self.stdout.write(f"  {key.replace('_', ' ')}: {'' if value is None else value}")
        if nodes is not None:
            self.stdout.write("\nNodes:")
            for node in nodes:
                parents = ", ".join(node["parents"]) or "-"
                self.stdout.write(f"  {node['name']}: {node['status'] or '-'} "
                                  f"(parents: {parents})")
        self.stdout.write("\nStatus history:")
        for change in history:
            old = st.STATUS_DISPLAY.get(change["from"] or "", "-")
            new = change["other_status"] or st.STATUS_DISPLAY.get(change["to"], change["to"])
            failed = (f"[run {change['attempt']}, {change['failure_kind']}] "
                      if change.get("failure_kind") else "")
            self.stdout.write(f"  {when(change['time'])}  {old} -> {new}  "
                              f"{failed}{change['reason']}")
        if not history:
            self.stdout.write("  (none recorded)")
        if sections is not None:
            self._write_logs(sections, 0)

    def _write_logs(self, sections, depth):
        for section in sections:
            self.stdout.write(f"\n{'  ' * depth}== {section.title} ==")
            if section.children:
                self._write_logs(section.children, depth + 1)
            else:
                self.stdout.write(section.text)

    # --- terminate / resubmit --------------------------------------------------------
    def _each(self, job_ids, verb, operation, check):
        """Apply ``operation`` to each job; ``check(job)`` returns ``None`` to go on, or
        ``(message, is_failure)`` to skip the job."""
        failures = 0
        for job_id in job_ids:
            try:
                job = get_job(job_id)
            except CommandError as exc:
                self.stderr.write(str(exc))
                failures += 1
                continue
            skip = check(job)
            if skip is not None:
                message, is_failure = skip
                (self.stderr if is_failure else self.stdout).write(
                    f'Job {job.pk} "{job.name}": {message}.')
                failures += is_failure
                continue
            try:
                operation(job)
            except NotImplementedError:
                self.stderr.write(f'Job {job.pk} "{job.name}": {job.type} cannot be {verb}.')
                failures += 1
            except Exception as exc:  # noqa: BLE001 - reported per job, the others go on
                self.stderr.write(f'Job {job.pk} "{job.name}": failed: {exc}')
                failures += 1
            else:
                job.refresh_from_db()
                self.stdout.write(f'Job {job.pk} "{job.name}" {verb}: {job.cached_status}.')
        if failures:
            raise CommandError(f"{failures} of {len(job_ids)} job(s) could not be {verb}.")

    def do_terminate(self, job_ids, **options):
        self._each(job_ids, "terminated", lambda job: job.stop(),
                   lambda job: ("already finished; nothing to do", False)
                   if job.is_terminal else None)

    def do_resubmit(self, job_ids, **options):
        self._each(job_ids, "resubmitted", lambda job: job.resubmit(),
                   lambda job: None if job.is_terminal
                   else ("still active; terminate it first", True))

    # --- prune -----------------------------------------------------------------------
    def do_prune(self, older_than, execute=False, **options):
        older_than = seconds(older_than, "--older-than", high=MAX_DAYS, allow_zero=True,
                             unit="days")
        cutoff = timezone.now() - timedelta(days=older_than)
        jobs = (
            self._filtered(finished_only=True, **options)
            .alias(finished_at=Coalesce("completion_time", "creation_time"))
            .filter(finished_at__lt=cutoff)
            .order_by("pk")
        )
        ids = list(jobs.values_list("pk", flat=True))
        if not execute:
            preview = TethysJob.objects.filter(pk__in=ids[:20]).select_subclasses().annotate(
                owner_username=owner_name()).order_by("pk")
            self.stdout.write(format_table(
                ("ID", "NAME", "TYPE", "APP", "USER", "STATUS", "COMPLETED"),
                [(j.pk, j.name, j.type, j.label, j.owner_username, j.cached_status,
                  when(j.completion_time)) for j in preview]))
            more = f" (first {len(preview)} shown)" if len(ids) > 20 else ""
            self.stdout.write(f"Dry run: {len(ids)} finished job(s) would be deleted{more}. "
                              "Run again with --yes to delete them and their directories.")
            return
        deleted, refused = 0, []
        for start in range(0, len(ids), PRUNE_BATCH):
            batch = ids[start:start + PRUNE_BATCH]
            # Base rows: every deletion goes through the core's delete receivers.
            try:
                _, per_model = TethysJob.objects.filter(pk__in=batch).delete()
                deleted += per_model.get(TethysJob._meta.label, 0)
                continue
            except RemoteWorkNotStopped:
                pass  # the batch was rolled back: one by one, keeping the refused jobs
            for pk in batch:
                try:
                    _, per_model = TethysJob.objects.filter(pk=pk).delete()
                    deleted += per_model.get(TethysJob._meta.label, 0)
                except RemoteWorkNotStopped as exc:
                    refused.append(str(exc))
        self.stdout.write(self.style.SUCCESS(
            f"Deleted {deleted} finished job(s), their remote work stopped and their own "
            "directories removed."))
        if refused:
            raise CommandError(f"{len(refused)} job(s) kept: " + " ".join(refused))
