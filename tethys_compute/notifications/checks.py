"""System check of the notification settings (``tethys_compute.E020``, docs/checks.rst)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register

from ..conf import get_config

#: Seconds, positive.
TIMES = ("NOTIFY_WEBHOOK_TIMEOUT", "NOTIFY_RETRY_DELAY", "NOTIFY_RETRY_MAX_DELAY",
         "NOTIFY_RATE_PERIOD", "NOTIFY_STEP_BUDGET", "NOTIFY_CLAIM_SECONDS")
#: Whole numbers, positive.
COUNTS = ("NOTIFY_MAX_TRIES", "NOTIFY_BATCH_SIZE")
#: Positive numbers or None (off).
OPTIONAL = ("NOTIFY_NO_PROGRESS_MINUTES", "NOTIFY_WAITING_HOURS")


def _number(value, *, whole=False):
    kinds = int if whole else (int, float)
    return not isinstance(value, bool) and isinstance(value, kinds)


def problems(config) -> list[str]:
    out = []
    for key in TIMES:
        if not _number(config[key]) or config[key] <= 0:
            out.append(f'TETHYS_COMPUTE["{key}"] must be a positive number of seconds, '
                       f"not {config[key]!r}.")
    for key in COUNTS:
        if not _number(config[key], whole=True) or config[key] <= 0:
            out.append(f'TETHYS_COMPUTE["{key}"] must be a positive whole number, '
                       f"not {config[key]!r}.")
    for key in OPTIONAL:
        value = config[key]
        if value is not None and (not _number(value) or value <= 0):
            out.append(f'TETHYS_COMPUTE["{key}"] must be a positive number or None, '
                       f"not {value!r}.")
    limit = config["NOTIFY_RATE_LIMIT"]
    if limit is not None and (not _number(limit, whole=True) or limit < 0):
        out.append(f'TETHYS_COMPUTE["NOTIFY_RATE_LIMIT"] must be a whole number (0: no '
                   f"limit) or None, not {limit!r}.")
    hosts = config["NOTIFY_WEBHOOK_ALLOWED_HOSTS"]
    if hosts is not None and (isinstance(hosts, str) or not isinstance(hosts, (list, tuple))
                              or not all(isinstance(h, str) and h for h in hosts)):
        out.append('TETHYS_COMPUTE["NOTIFY_WEBHOOK_ALLOWED_HOSTS"] must be None or a list '
                   f"of host names, not {hosts!r}.")
    secrets = config["NOTIFY_WEBHOOK_SECRETS"]
    if not isinstance(secrets, dict) or not all(
            isinstance(v, str) and v for v in secrets.values()):
        out.append('TETHYS_COMPUTE["NOTIFY_WEBHOOK_SECRETS"] must be a dict of name to '
                   "non-empty secret.")
    if not isinstance(config["NOTIFY_WEBHOOK_ALLOW_PRIVATE"], bool):
        out.append('TETHYS_COMPUTE["NOTIFY_WEBHOOK_ALLOW_PRIVATE"] must be True or False.')
    secret = config["NOTIFY_WEBHOOK_SECRET"]
    if secret is not None and not (isinstance(secret, str) and secret):
        out.append('TETHYS_COMPUTE["NOTIFY_WEBHOOK_SECRET"] must be None or a non-empty '
                   "string.")
    return out


@register(Tags.compatibility)
def check_notification_settings(app_configs=None, **kwargs):
    raw = getattr(settings, "TETHYS_COMPUTE", None)
    if raw is not None and not isinstance(raw, dict):
        return []  # tethys_compute.E001
    return [Error(text, hint="See docs/settings.rst, Notifications.",
                  id="tethys_compute.E020") for text in problems(get_config())]
