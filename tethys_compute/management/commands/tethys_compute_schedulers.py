"""``manage.py tethys_compute_schedulers``: create, list, remove, link and test schedulers,
and re-encrypt their secrets after a key rotation.

Tethys's ``tethys schedulers`` and ``tethys link`` commands, as one Django command.
Secrets are never printed; validation is the admin's (same forms, same messages).
"""

from __future__ import annotations

import sys

from cryptography.fernet import InvalidToken
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import BooleanField, CharField, ExpressionWrapper, F, Q

from ... import crypto
from ...admin.connection import check_connection
from ...admin.forms import CondorSchedulerForm, DaskSchedulerForm
from ...admin.secrets import MASK, SECRET_FIELDS
from ...app_base import registered_apps
from ...models import CondorScheduler, DaskScheduler, Scheduler, SchedulerSetting
from ._arguments import no_nul_anywhere
from ._output import format_table, to_json

ENGINE_NAMES = {"htcondor": "HTCondor", "dask": "Dask"}
WITH_ARTICLE = {"htcondor": "an HTCondor", "dask": "a Dask"}
TYPE_PREFIXES = {"condor": CondorScheduler, "htcondor": CondorScheduler, "dask": DaskScheduler}


class SchedulerNotFound(CommandError):
    """No scheduler has the given name or id."""


def find_scheduler(ref) -> Scheduler:
    """The scheduler with id ``ref`` (an all-digit ``ref`` is tried as an id first) or
    named ``ref``, as its own class. A ``condor:`` or ``dask:`` prefix (Tethys's
    ``tethys link`` form) restricts the type.

    :raises CommandError: when none or several match.
    """
    ref = str(ref).strip()
    if "\x00" in ref:
        raise CommandError("A scheduler's name or id must not contain NUL characters.")
    model = Scheduler
    prefix, sep, rest = ref.partition(":")
    if sep and prefix.lower() in TYPE_PREFIXES:
        model, ref = TYPE_PREFIXES[prefix.lower()], rest.strip()
    if not ref:
        raise CommandError("Name a scheduler (its name or id).")
    schedulers = model.objects.select_subclasses() if model is Scheduler else model.objects
    kind = model._meta.verbose_name
    if ref.isdigit() and int(ref) <= 2**63 - 1:
        found = schedulers.filter(pk=int(ref)).first()
        if found is not None:
            return found
    matches = list(schedulers.filter(name=ref).order_by("pk"))
    if not matches:
        raise SchedulerNotFound(f'No {kind} named "{ref}"'
                                + (f" or with id {ref}." if ref.isdigit() else "."))
    if len(matches) > 1:
        ids = ", ".join(str(s.pk) for s in matches)
        raise CommandError(f'Several schedulers are named "{ref}" (ids {ids}); give the id.')
    return matches[0]


def find_setting(ref) -> SchedulerSetting:
    """The setting ``<app package>:<setting name>`` (Tethys's
    ``<app>:ss_scheduler:<setting>`` is accepted too), synced from the app's declaration.

    :raises CommandError: for a malformed reference, an unknown app or setting.
    """
    parts = str(ref).split(":")
    if len(parts) == 3 and parts[1] == "ss_scheduler":
        parts = [parts[0], parts[2]]
    if len(parts) != 2 or not all(parts):
        raise CommandError(f'Name the setting as <app>:<setting>, e.g. my_app:dask_primary, '
                           f'not "{ref}".')
    package, name = parts
    app = registered_apps().get(package)
    if app is not None:
        app.sync_scheduler_settings()
    elif not SchedulerSetting.objects.filter(app_package=package).exists():
        known = ", ".join(sorted(registered_apps())) or "none"
        raise CommandError(f'No app "{package}" (known apps: {known}).')
    setting = SchedulerSetting.objects.filter(app_package=package, name=name).first()
    if setting is None:
        names = ", ".join(
            SchedulerSetting.objects.filter(app_package=package).values_list("name", flat=True)
        ) or "none"
        raise CommandError(f'App "{package}" has no scheduler setting "{name}" '
                           f"(its settings: {names}).")
    return setting


def _form_errors(form) -> str:
    lines: list[str] = []
    for field, errors in form.errors.items():
        label = "" if field == "__all__" else f"{form.fields[field].label or field}: "
        lines.extend(f"{label}{error}" for error in errors)
    return "; ".join(lines)


class Command(BaseCommand):
    help = "Manage HTCondor and Dask schedulers and assign them to apps' scheduler settings."
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

        p = sub.add_parser("create-condor", help="Create an HTCondor scheduler.")
        p.add_argument("-n", "--name", required=True)
        p.add_argument("-e", "--endpoint", "--host", dest="host", required=True,
                       help='Submit host, or "localhost" for this machine\'s HTCondor tools.')
        p.add_argument("-o", "--port", type=int, default=22, help="SSH port (default 22).")
        p.add_argument("-u", "--username", help="SSH user name.")
        pw = p.add_mutually_exclusive_group()
        pw.add_argument("-p", "--password",
                        help="SSH password (visible to other local users while the command "
                             "runs; prefer --password-stdin).")
        pw.add_argument("--password-stdin", action="store_true",
                        help="Read the SSH password from the first line of standard input.")
        p.add_argument("-f", "--private-key-path", help="Absolute path of the SSH private key.")
        kp = p.add_mutually_exclusive_group()
        kp.add_argument("-k", "--private-key-pass", help="Passphrase of the private key.")
        kp.add_argument("--private-key-pass-stdin", action="store_true",
                        help="Read the key passphrase from the first line of standard input.")

        p = sub.add_parser("create-dask", help="Create a Dask scheduler.")
        p.add_argument("-n", "--name", required=True)
        p.add_argument("-e", "--endpoint", "--host", dest="host", required=True,
                       help="Scheduler address, e.g. tcp://10.0.0.5:8786.")
        p.add_argument("-t", "--timeout", type=int, default=0,
                       help="Connection timeout in seconds (0: distributed's default).")
        p.add_argument("-b", "--heartbeat-interval", type=int, default=0,
                       help="Client heartbeat interval in seconds (0: distributed's default).")
        p.add_argument("-d", "--dashboard", help="Dashboard address, e.g. http://10.0.0.5:8787/.")

        p = sub.add_parser("list", help="List schedulers (secrets masked).")
        p.add_argument("-t", "--type", dest="scheduler_type", choices=("condor", "dask"),
                       help="Only this type.")
        p.add_argument("--format", dest="output_format", choices=("table", "json"),
                       default="table")

        p = sub.add_parser("remove", help="Delete a scheduler.")
        p.add_argument("scheduler", help="Name or id.")
        p.add_argument("-f", "--force", action="store_true", help="Do not ask for confirmation.")

        p = sub.add_parser("link", help="Assign a scheduler to an app's scheduler setting.")
        p.add_argument("scheduler", help="Name or id (condor:<name> / dask:<name> accepted).")
        p.add_argument("setting", help="<app package>:<setting name>.")

        p = sub.add_parser("unlink", help="Remove the scheduler of an app's scheduler setting.")
        p.add_argument("setting", help="<app package>:<setting name>.")

        p = sub.add_parser("settings", help="List apps' scheduler settings and assignments.")
        p.add_argument("--app", help="Only this app package.")
        p.add_argument("--format", dest="output_format", choices=("table", "json"),
                       default="table")

        p = sub.add_parser("test", help="Test the connection to schedulers.")
        target = p.add_mutually_exclusive_group(required=True)
        target.add_argument("scheduler", nargs="?", help="Name or id.")
        target.add_argument("--all", dest="test_all", action="store_true",
                            help="Test every scheduler.")

        sub.add_parser("reencrypt",
                       help="Re-encrypt stored secrets with the newest key (after rotation).")

    def handle(self, *args, action, **options):
        no_nul_anywhere(options)
        handler = getattr(self, "do_" + action.replace("-", "_"))
        handler(**options)

    # --- create ----------------------------------------------------------------------
    def _read_secrets(self, options):
        if options.get("password_stdin") and options.get("private_key_pass_stdin"):
            raise CommandError("Only one secret can be read from standard input.")
        stdin = options.get("stdin") or sys.stdin
        for name in SECRET_FIELDS:
            if options.get(f"{name}_stdin"):
                line = stdin.readline()
                if not line:
                    raise CommandError(f"--{name.replace('_', '-')}-stdin: standard input "
                                       "is empty.")
                options[name] = line.rstrip("\r\n")
            elif options.get(name) and name == "password":
                self.stderr.write("Warning: a password given on the command line can be seen "
                                  "by other local users; --password-stdin avoids that.")

    def _ensure_new_name(self, name):
        if Scheduler.objects.filter(name=name).exists():
            raise CommandError(f'A scheduler named "{name}" already exists; choose another '
                               "name or remove it first.")

    def _save(self, form, kind):
        if not form.is_valid():
            raise CommandError(f"Invalid {kind} scheduler: {_form_errors(form)}")
        self._ensure_new_name(form.cleaned_data["name"])
        scheduler = form.save()
        self.stdout.write(self.style.SUCCESS(
            f'Created {kind} scheduler "{scheduler.name}" (id {scheduler.pk}).'))

    def do_create_condor(self, **options):
        self._read_secrets(options)
        form = CondorSchedulerForm(data={
            "name": options["name"],
            "host": options["host"],
            "port": options["port"],
            "username": options.get("username") or "",
            "private_key_path": options.get("private_key_path") or "",
            "new_password": options.get("password") or "",
            "new_private_key_pass": options.get("private_key_pass") or "",
        })
        self._save(form, "HTCondor")

    def do_create_dask(self, **options):
        form = DaskSchedulerForm(data={
            "name": options["name"],
            "host": options["host"],
            "timeout": options["timeout"],
            "heartbeat_interval": options["heartbeat_interval"],
            "dashboard": options.get("dashboard") or "",
        })
        self._save(form, "Dask")

    # --- list ------------------------------------------------------------------------
    def do_list(self, scheduler_type=None, output_format="table", **options):
        def has(field):
            return ExpressionWrapper(Q(**{f"{field}__isnull": False}) & ~Q(**{field: ""}),
                                     output_field=BooleanField())

        condor, dask = [], []
        if scheduler_type in (None, "condor"):
            # Secrets are not even decrypted: only whether one is stored is read.
            for s in CondorScheduler.objects.defer(*SECRET_FIELDS).annotate(
                has_password=has("password"), has_key_pass=has("private_key_pass"),
            ).order_by("name", "pk"):
                condor.append({
                    "id": s.pk, "type": "condor", "name": s.name, "host": s.host,
                    "port": s.port, "username": s.username or "",
                    "password": MASK if s.has_password else "",
                    "private_key_path": s.private_key_path or "",
                    "private_key_pass": MASK if s.has_key_pass else "",
                })
        if scheduler_type in (None, "dask"):
            for s in DaskScheduler.objects.order_by("name", "pk"):
                dask.append({
                    "id": s.pk, "type": "dask", "name": s.name, "host": s.host,
                    "timeout": s.timeout, "heartbeat_interval": s.heartbeat_interval,
                    "dashboard": s.dashboard or "",
                })
        if output_format == "json":
            self.stdout.write(to_json(condor + dask))
            return
        if scheduler_type in (None, "condor"):
            self.stdout.write("HTCondor schedulers:")
            self.stdout.write(format_table(
                ("ID", "NAME", "HOST", "PORT", "USERNAME", "PASSWORD", "PRIVATE KEY PATH",
                 "KEY PASSPHRASE"),
                [(r["id"], r["name"], r["host"], r["port"], r["username"], r["password"],
                  r["private_key_path"], r["private_key_pass"]) for r in condor]))
        if scheduler_type is None:
            self.stdout.write("")
        if scheduler_type in (None, "dask"):
            self.stdout.write("Dask schedulers:")
            self.stdout.write(format_table(
                ("ID", "NAME", "HOST", "TIMEOUT", "HEARTBEAT", "DASHBOARD"),
                [(r["id"], r["name"], r["host"], r["timeout"], r["heartbeat_interval"],
                  r["dashboard"]) for r in dask]))

    # --- remove ----------------------------------------------------------------------
    def do_remove(self, scheduler, force=False, **options):
        try:
            target = find_scheduler(scheduler)
        except SchedulerNotFound as exc:
            # As Tethys's CLI: deploy scripts run "remove -f" before "create" on a fresh
            # database, so nothing to remove is not a failure (exit status 0).
            self.stdout.write(f"{exc} Nothing was removed.")
            return
        settings = list(target.settings.order_by("app_package", "name"))
        kind = type(target)._meta.verbose_name
        if not force:
            uses = f" It is assigned to {len(settings)} app setting(s), which will have " \
                   "no scheduler." if settings else ""
            self.stdout.write(f'Delete {kind} "{target.name}" (id {target.pk})?{uses} [y/N] ',
                              ending="")
            self.stdout.flush()
            try:
                answer = input()
            except EOFError:
                answer = ""
            if answer.strip().lower() not in ("y", "yes"):
                raise CommandError("Aborted; nothing was deleted (use -f/--force to skip "
                                   "the question).")
        target.delete()
        self.stdout.write(self.style.SUCCESS(f'Deleted {kind} "{target.name}".'))
        for setting in settings:
            note = " (required: assign another scheduler)" if setting.required else ""
            self.stdout.write(f"  {setting} has no scheduler now{note}.")

    # --- link ------------------------------------------------------------------------
    def do_link(self, scheduler, setting, **options):
        row = find_setting(setting)
        target = find_scheduler(scheduler)
        if target.engine != row.engine:
            want = WITH_ARTICLE.get(row.engine, row.engine)
            have = WITH_ARTICLE.get(target.engine, "an unknown")
            raise CommandError(f'{row} takes {want} scheduler; "{target.name}" is {have} '
                               "scheduler.")
        row.scheduler_service = target
        try:
            row.full_clean()
        except ValidationError as exc:
            raise CommandError(f"Cannot link {row}: {'; '.join(exc.messages)}") from None
        row.save(update_fields=["scheduler_service"])
        self.stdout.write(self.style.SUCCESS(f'Linked "{target.name}" to {row}.'))

    def do_unlink(self, setting, **options):
        row = find_setting(setting)
        if row.scheduler_service_id is None:
            self.stdout.write(f"{row} has no scheduler; nothing to do.")
            return
        row.scheduler_service = None
        row.save(update_fields=["scheduler_service"])
        self.stdout.write(self.style.SUCCESS(f"{row} has no scheduler now."))
        if row.required:
            self.stderr.write(f"Warning: {row} is required; the app needs a scheduler there.")

    def do_settings(self, app=None, output_format="table", **options):
        apps = registered_apps()
        for package, app_class in apps.items():
            if app is None or package == app:
                app_class.sync_scheduler_settings()
        if app is not None and app not in apps and not SchedulerSetting.objects.filter(
                app_package=app).exists():
            raise CommandError(f'No app "{app}".')
        rows = SchedulerSetting.objects.select_related("scheduler_service").order_by(
            "app_package", "name")
        if app is not None:
            rows = rows.filter(app_package=app)
        data = [{
            "app": r.app_package, "setting": r.name, "engine": r.engine,
            "required": r.required,
            "scheduler": r.scheduler_service.name if r.scheduler_service else None,
        } for r in rows]
        if output_format == "json":
            self.stdout.write(to_json(data))
            return
        self.stdout.write(format_table(
            ("APP", "SETTING", "ENGINE", "REQUIRED", "SCHEDULER"),
            [(d["app"], d["setting"], ENGINE_NAMES.get(d["engine"], d["engine"]),
              "yes" if d["required"] else "no",
              d["scheduler"] or ("NOT ASSIGNED" if d["required"] else "-")) for d in data]))

    # --- test ------------------------------------------------------------------------
    def do_test(self, scheduler=None, test_all=False, **options):
        if test_all:
            targets = list(Scheduler.objects.order_by("name", "pk").select_subclasses())
            if not targets:
                raise CommandError("There are no schedulers to test.")
        else:
            targets = [find_scheduler(scheduler)]
        failed = 0
        for target in targets:
            result = check_connection(target)
            if result.ok:
                self.stdout.write(self.style.SUCCESS(f'"{target.name}": {result.message}'))
            else:
                failed += 1
                what = "connection failed: " if result.supported else ""
                self.stderr.write(f'"{target.name}": {what}{result.message}')
        if failed:
            raise CommandError(f"{failed} of {len(targets)} connection test(s) failed.")

    # --- reencrypt -------------------------------------------------------------------
    def do_reencrypt(self, **options):
        raw = {f"raw_{name}": ExpressionWrapper(F(name), output_field=CharField())
               for name in SECRET_FIELDS}
        rotated = encrypted = schedulers = 0
        unreadable = []
        with transaction.atomic():
            rows = CondorScheduler.objects.select_for_update().defer(*SECRET_FIELDS)
            for s in rows.annotate(**raw).order_by("pk"):
                updates = {}
                for name in SECRET_FIELDS:
                    value = getattr(s, f"raw_{name}")
                    if not value:
                        continue
                    if not crypto.is_encrypted(value):
                        updates[name] = crypto.encrypt(value)
                        encrypted += 1
                        continue
                    try:
                        updates[name] = crypto.rotate(value)
                    except (InvalidToken, ValueError):
                        unreadable.append(f'"{s.name}" ({SECRET_FIELDS[name]})')
                        continue
                    rotated += 1
                if updates:
                    CondorScheduler.objects.filter(pk=s.pk).update(**updates)
                    schedulers += 1
        self.stdout.write(
            f"Re-encrypted {rotated} secret(s) with the newest key and encrypted {encrypted} "
            f"plain-text secret(s), on {schedulers} scheduler(s)."
        )
        if unreadable:
            raise CommandError(
                "These secrets cannot be decrypted with the configured keys and were left "
                f"as they are: {', '.join(unreadable)}. Add the key they were encrypted with "
                "to TETHYS_COMPUTE['SECRET_KEYS'] or SECRET_KEY_FALLBACKS, or set them again."
            )
