"""The ``notify`` specification: who is told what about a job.

Accepted forms (``create_job(..., notify=...)``, ``TethysAppBase.notify``):

* a list of channels: ``["email", "https://hooks.example.org/jobs"]``: every event;
* a dict: ``{"channels": [...], "events": [...], "no_progress_minutes": 30,
  "waiting_hours": 6}``; a webhook channel may be a dict ``{"url": ..., "secret": name}``
  naming an entry of ``TETHYS_COMPUTE["NOTIFY_WEBHOOK_SECRETS"]``;
* ``[]`` or ``{}``: no notifications for this job (not even the app's default);
* ``None``: not given (the app's default applies).

:func:`parse_notify` turns any of them into the stored form
``{"channels": [{"type": "email"} | {"type": "webhook", "url": ..., ["secret": ...]}],
"events": [...], ["no_progress_minutes": n], ["waiting_hours": n]}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from ..conf import get_config
from . import EVENTS

KEYS = ("channels", "events", "no_progress_minutes", "waiting_hours")
MAX_URL = 2048
#: Most channels one ``notify`` may name (each event makes one delivery per channel).
MAX_CHANNELS = 10


def parse_notify(value: Any) -> dict:
    """Validate a ``notify`` value and return its stored form.

    :param value: a list of channels or a dict (see the module's docstring).
    :returns: ``{"channels": [...], "events": [...], ...}``.
    :raises ValueError: naming the problem: an unknown channel, event or key, a webhook
        URL that is not http(s), has no host, or whose host is not in
        ``NOTIFY_WEBHOOK_ALLOWED_HOSTS``, or a threshold that is not a positive number.
    """
    if isinstance(value, (list, tuple)):
        value = {"channels": list(value)}
    if not isinstance(value, Mapping):
        raise ValueError(
            f"notify must be a list of channels or a dict, not {type(value).__name__}.")
    unknown = sorted(set(value) - set(KEYS))
    if unknown:
        raise ValueError(f"notify has unknown keys {unknown}; use {list(KEYS)}.")
    if not isinstance(value.get("channels") or (), (list, tuple)):
        raise ValueError(
            f"notify channels must be a list of channels, not {value['channels']!r}.")
    if len(value.get("channels") or ()) > MAX_CHANNELS:
        raise ValueError(f"notify may name at most {MAX_CHANNELS} channels, not "
                         f"{len(value['channels'])}.")
    channels = [_channel(c) for c in value.get("channels") or ()]
    events = value.get("events")
    if events is None:
        events = list(EVENTS) if channels else []
    if not isinstance(events, (list, tuple)) or not all(isinstance(e, str) for e in events):
        raise ValueError(f"notify events must be a list of names, not {events!r}.")
    bad = [e for e in events if e not in EVENTS]
    if bad:
        raise ValueError(f"Unknown notify events {bad}; use some of {list(EVENTS)}.")
    spec: dict[str, Any] = {"channels": _unique(channels),
                            "events": [e for e in EVENTS if e in events]}
    for key in ("no_progress_minutes", "waiting_hours"):
        if value.get(key) is not None:
            spec[key] = _positive(key, value[key])
    return spec


def _channel(item: Any) -> dict:
    if item == "email":
        return {"type": "email"}
    if isinstance(item, str) and "://" in item:
        return {"type": "webhook", "url": validate_webhook_url(item)}
    if isinstance(item, Mapping) and "url" in item:
        extra = set(item) - {"url", "secret", "type"}
        if extra or item.get("type", "webhook") != "webhook":
            raise ValueError(f"A webhook channel has keys url and secret only, not {item!r}.")
        channel = {"type": "webhook", "url": validate_webhook_url(item["url"])}
        if item.get("secret"):
            name = str(item["secret"])
            if name not in (get_config()["NOTIFY_WEBHOOK_SECRETS"] or {}):
                raise ValueError(
                    f'Webhook secret "{name}" is not in NOTIFY_WEBHOOK_SECRETS.')
            channel["secret"] = name
        return channel
    raise ValueError(
        f"Unknown notify channel {item!r}: use \"email\" or a webhook URL "
        "(http or https), or {\"url\": ..., \"secret\": name}.")


def validate_webhook_url(url: Any) -> str:
    """Return ``url`` if it may receive webhooks.

    :raises ValueError: if it is not a string of at most 2048 characters with scheme http
        or https and a host, or its host is not allowed by
        ``TETHYS_COMPUTE["NOTIFY_WEBHOOK_ALLOWED_HOSTS"]`` (when set: exact names, or
        ``".example.org"`` for the domain and its subdomains).
    """
    if not isinstance(url, str) or len(url) > MAX_URL:
        raise ValueError(f"A webhook URL must be a string of at most {MAX_URL} characters.")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"Bad webhook URL {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"A webhook URL must use http or https, not {url!r}.")
    if not host:
        raise ValueError(f"A webhook URL needs a host: {url!r}.")
    if parts.username or parts.password:
        raise ValueError("A webhook URL must not carry a user name or password.")
    if not host_allowed(host):
        raise ValueError(
            f"Webhook host {host!r} is not in TETHYS_COMPUTE['NOTIFY_WEBHOOK_ALLOWED_HOSTS'].")
    return url


def host_allowed(host: str) -> bool:
    """Whether ``NOTIFY_WEBHOOK_ALLOWED_HOSTS`` lets webhooks go to ``host``."""
    allowed = get_config()["NOTIFY_WEBHOOK_ALLOWED_HOSTS"]
    if allowed is None:
        return True
    host = host.lower().rstrip(".")
    for pattern in allowed:
        pattern = pattern.lower()
        if pattern.startswith("."):
            if host == pattern[1:] or host.endswith(pattern):
                return True
        elif host == pattern:
            return True
    return False


def thresholds(spec: Mapping | None) -> tuple[timedelta | None, timedelta | None]:
    """``(no progress, waiting)`` thresholds of a stored spec, the settings' defaults
    (``NOTIFY_NO_PROGRESS_MINUTES``, ``NOTIFY_WAITING_HOURS``) where it names none;
    ``(None, None)`` for a spec without channels."""
    if not spec or not spec.get("channels"):
        return None, None
    config = get_config()
    minutes = spec.get("no_progress_minutes", config["NOTIFY_NO_PROGRESS_MINUTES"])
    hours = spec.get("waiting_hours", config["NOTIFY_WAITING_HOURS"])
    return (timedelta(minutes=minutes) if minutes else None,
            timedelta(hours=hours) if hours else None)


def for_new_job(notify: Any, app: Any) -> dict:
    """The fields a new job gets from ``create_job``'s ``notify`` (``None``: the app's
    ``notify`` default). :raises ValueError: as :func:`parse_notify`."""
    if notify is None:
        notify = getattr(app, "notify", None)
    if notify is None:
        return {}
    spec = parse_notify(notify)
    no_progress, waiting = thresholds(spec)
    return {"notify": spec, "notify_no_progress": no_progress, "notify_waiting": waiting}


#: Largest thresholds (ten years), so that they stay durations the database can hold.
_MAXIMUM = {"no_progress_minutes": 10 * 365 * 24 * 60, "waiting_hours": 10 * 365 * 24}


def _positive(key: str, value: Any) -> float | int:
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not 0 < value <= _MAXIMUM[key]):
        raise ValueError(f"notify {key} must be a positive number of at most "
                         f"{_MAXIMUM[key]}, not {value!r}.")
    return value


def _unique(channels: list[dict]) -> list[dict]:
    seen, out = set(), []
    for channel in channels:
        key = (channel["type"], channel.get("url"))
        if key not in seen:
            seen.add(key)
            out.append(channel)
    return out
