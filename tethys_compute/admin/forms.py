"""Admin forms: schedulers (secrets write-only) and app scheduler settings (engine-checked)."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from django import forms
from django.core.exceptions import ValidationError

from ..models import CondorScheduler, DaskScheduler, Scheduler, SchedulerSetting
from .secrets import SECRET_FIELDS

SECRET_HELP = "Stored encrypted and never shown. "


def dashboard_base_url(value):
    """Normalise a Dask dashboard address to ``http(s)://host[:port]/path/``.

    ``"127.0.0.1:8787"`` becomes ``"http://127.0.0.1:8787/"`` (as Tethys does).

    :returns: the URL, or ``None`` for an empty value.
    :raises ValueError: when the value is not an http(s) URL with a host.
    """
    value = (value or "").strip()
    if not value:
        return None
    if "://" not in value:
        value = "http://" + value
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f'"{value}" is not an http(s) address of a Dask dashboard.')
    if parts.query or parts.fragment:
        raise ValueError("A dashboard address takes no query string or fragment.")
    return value if value.endswith("/") else value + "/"


class CondorSchedulerForm(forms.ModelForm):
    """An HTCondor scheduler. Its password and key passphrase are write-only: the form
    never holds or renders the stored values; a blank field keeps the stored value, and a
    "clear" box removes it."""

    new_password = forms.CharField(
        label="Password", required=False, strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    clear_password = forms.BooleanField(label="Clear the stored password", required=False)
    new_private_key_pass = forms.CharField(
        label="Private key passphrase", required=False, strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    clear_private_key_pass = forms.BooleanField(
        label="Clear the stored passphrase", required=False
    )
    port = forms.IntegerField(
        label="SSH port", min_value=1, max_value=65535, initial=22, required=False,
        help_text="SSH port of the submit host (22 by default).",
    )

    class Meta:
        model = CondorScheduler
        fields = ("name", "host", "port", "username", "private_key_path", "accounting_group",
                  "max_request_memory")
        # Never bound to the model fields, so their values are never read into the form.
        exclude = tuple(SECRET_FIELDS)  # noqa: DJ006 - a guard on top of `fields`
        help_texts = {
            "host": 'Submit host reached over SSH, or "localhost" with no username to run '
                    "the HTCondor tools of this machine.",
            "private_key_path": "Absolute path, on the web server, of the SSH private key.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, label in SECRET_FIELDS.items():
            field = self.fields.get(f"new_{name}")
            if field is None:
                continue
            stored = bool(getattr(self.instance, name, None))
            state = (
                f"A {label} is stored; leave blank to keep it."
                if stored else f"No {label} is stored."
            )
            field.help_text = SECRET_HELP + state

    def clean_private_key_path(self):
        path = (self.cleaned_data.get("private_key_path") or "").strip()
        if path and not (os.path.isabs(path) or path.startswith("~")):
            raise ValidationError("Give an absolute path (the web server's working directory "
                                  "is not a reliable base).")
        return path or None

    def clean_port(self):
        port = self.cleaned_data.get("port")
        return 22 if port is None else port

    def clean(self):
        cleaned = super().clean()
        for name, label in SECRET_FIELDS.items():
            new = cleaned.get(f"new_{name}") or ""
            clear = cleaned.get(f"clear_{name}")
            if new and clear:
                self.add_error(f"clear_{name}", f"Enter a new {label} or clear it, not both.")
            elif new:
                setattr(self.instance, name, new)
            elif clear:
                setattr(self.instance, name, None)
        key_path = cleaned.get("private_key_path", self.instance.private_key_path)
        if self.instance.private_key_pass and not key_path:
            self.add_error(
                "new_private_key_pass",
                "A passphrase opens a private key: set the private key path too.",
            )
        return cleaned


class DaskSchedulerForm(forms.ModelForm):
    """A Dask scheduler: address, timeouts in seconds, dashboard address."""

    timeout = forms.IntegerField(
        min_value=0, initial=0, required=False,
        help_text="Seconds to wait when connecting; 0 uses distributed's default.",
    )
    heartbeat_interval = forms.IntegerField(
        min_value=0, initial=0, required=False,
        help_text="Seconds between client heartbeats; 0 uses distributed's default.",
    )

    class Meta:
        model = DaskScheduler
        fields = ("name", "host", "timeout", "heartbeat_interval", "dashboard")
        help_texts = {
            "host": "Address of the distributed scheduler, e.g. tcp://10.0.0.5:8786.",
            "dashboard": "Dashboard address, e.g. http://10.0.0.5:8787/ (optional).",
        }

    def clean_host(self):
        host = (self.cleaned_data.get("host") or "").strip()
        if any(ch.isspace() for ch in host):
            raise ValidationError("A scheduler address has no spaces.")
        return host

    def clean_timeout(self):
        return self.cleaned_data.get("timeout") or 0

    def clean_heartbeat_interval(self):
        return self.cleaned_data.get("heartbeat_interval") or 0

    def clean_dashboard(self):
        try:
            return dashboard_base_url(self.cleaned_data.get("dashboard"))
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


def schedulers_for_engine(engine):
    """The schedulers a setting of ``engine`` (``"htcondor"`` or ``"dask"``) may take."""
    if engine == SchedulerSetting.DASK:
        return Scheduler.objects.filter(daskscheduler__isnull=False)
    if engine == SchedulerSetting.HTCONDOR:
        return Scheduler.objects.filter(condorscheduler__isnull=False)
    return Scheduler.objects.none()


class SchedulerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.name} ({obj.host})"


class SchedulerSettingForm(forms.ModelForm):
    """Assigns a scheduler to an app's setting; only schedulers of the setting's engine
    are offered, and the model's ``clean()`` refuses any other."""

    class Meta:
        model = SchedulerSetting
        fields = ("scheduler_service",)
        field_classes = {"scheduler_service": SchedulerChoiceField}
        labels = {"scheduler_service": "Scheduler"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields.get("scheduler_service")
        if field is not None:
            field.queryset = schedulers_for_engine(self.instance.engine).order_by("name", "pk")
            field.required = False
            kind = dict(SchedulerSetting.ENGINE_CHOICES).get(self.instance.engine, "")
            field.help_text = f"Only {kind} schedulers can be assigned to this setting."
