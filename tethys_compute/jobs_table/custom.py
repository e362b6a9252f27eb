"""``CustomJobAction`` and the registry of custom actions.

Tethys attaches a custom action's callback (and its "enabled" test) to the job class with
``setattr`` when the gizmo is built, so the action only works in the server process that
happened to build that table, and two apps whose functions share a name overwrite each
other (see "Differences from Tethys" in the docs). Here nothing is attached to any class:

* an action is described by plain data (its label, the import path of its callback or
  the name of a job method, its links, ...) and registered under a name derived from a
  digest of that description, so identical descriptions share one entry and different
  ones (another app's "Archive") can never take each other's place;
* the table carries each custom action's description in its signed configuration, so a
  server process that never built the table re-imports the callback by its path and
  registers it on first use. Callbacks must therefore be importable module-level
  functions (or methods of the job class, named by a string).
"""

from __future__ import annotations

import hashlib
import json
import threading

from django.apps import apps
from django.utils.text import slugify

from ..functions import call, function_path, import_function
from .links import check_link, is_url_spec

# Bounded: an app that builds actions with per-request texts cannot grow it without end;
# an entry that was dropped is rebuilt from the table's signed description when needed.
REGISTRY_SIZE = 512
_registry: dict[str, CustomJobAction] = {}
_lock = threading.Lock()


def _job_base():
    from ..models import TethysJob

    return TethysJob


class CustomJobAction:
    """An app-defined entry of a jobs table's action menu (Tethys's ``CustomJobAction``).

    :param label: the menu text (``str``).
    :param callback_or_url: either a link (a string containing ``:`` or ``/``: a URL name
        reversed with ``job_id``, or a path; see :mod:`tethys_compute.jobs_table.links`),
        the name of a method of ``job_type`` (called with no arguments), or a module-level
        function called as ``callback(job)``. A string it returns is shown to the user.
        ``async`` functions are awaited.
    :param enabled_callback: a module-level function ``(job, job_status) -> bool`` where
        ``job_status`` is the display status (``"Running"``); the action is offered
        only when it returns true. Checked again on the server before the action runs.
    :param confirmation_message: text of a confirmation dialog shown first (plain text).
    :param show_overlay: cover the table with a spinner while the action runs.
    :param modal_url: a link (as ``callback_or_url``) whose HTML is shown in a dialog
        instead of running a callback: as Tethys injects it, but in a sandboxed frame
        styled with the page's stylesheets, where its scripts do not run (use a link
        action for interactive pages).
    :param job_type: the ``TethysJob`` subclass the action applies to (default
        ``TethysJob``); jobs of other types show it disabled.
    :raises ValueError: with Tethys's messages when neither ``callback_or_url`` nor
        ``modal_url`` is given, or the callback is not valid; and when a function is not
        importable by its path, a link cannot be reversed, or ``job_type`` is not a job
        model.
    """

    def __init__(
        self,
        label,
        callback_or_url=None,
        enabled_callback=None,
        confirmation_message=None,
        show_overlay=False,
        modal_url=None,
        job_type=None,
    ):
        if callback_or_url is None and modal_url is None:
            raise ValueError(
                'A CustomJobAction requires either the "callback_or_url" argument or the '
                '"modal_url" argument.'
            )
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"A CustomJobAction needs a non-empty label, not {label!r}.")
        base = _job_base()
        job_type = base if job_type is None else job_type
        if not (isinstance(job_type, type) and issubclass(job_type, base)):
            raise ValueError(f"job_type must be a TethysJob subclass, not {job_type!r}.")
        self.label = label
        self.job_type = job_type
        self.url = None
        self.callback = None
        self._callback_path = None
        self._method = None
        if is_url_spec(callback_or_url):
            self.url = check_link(callback_or_url, f'The URL of custom action "{label}"')
        elif callback_or_url is not None:
            self.callback = self.register_callback(callback_or_url, job_type)
        self.modal_url = (
            check_link(modal_url, f'The modal_url of custom action "{label}"')
            if modal_url is not None
            else None
        )
        self.enabled_callback = enabled_callback
        self._enabled_path = None
        if enabled_callback is not None:
            if not callable(enabled_callback):
                raise ValueError(f'The enabled_callback "{enabled_callback}" is not valid.')
            self._enabled_path = function_path(enabled_callback, "enabled_callback")
        if confirmation_message is not None and not isinstance(confirmation_message, str):
            raise ValueError("confirmation_message must be a string.")
        self.confirmation_message = confirmation_message or None
        self.show_overlay = bool(show_overlay)
        self.name = register(self)

    def register_callback(self, callback, job_type):
        """Check ``callback`` and remember how to call it; return its name (as Tethys).

        :raises ValueError: ``'The specified callback "..." is not valid.'`` for a string
            that is not a public method of ``job_type``, or anything that is neither a
            string nor a function.
        """
        if isinstance(callback, str):
            member = getattr(job_type, callback, None)
            if callback.startswith("_") or member is None or not callable(member):
                raise ValueError(f'The specified callback "{callback}" is not valid.')
            self._method = callback
            return callback
        if callable(callback) and not isinstance(callback, type):
            self._callback_path = function_path(callback, "callback")
            return callback.__name__
        raise ValueError(f'The specified callback "{callback}" is not valid.')

    @property
    def properties(self):
        """Tethys's view of the action: callback, url, modal_url, confirmation_message,
        show_overlay."""
        return {
            "callback": self.callback,
            "url": self.url,
            "modal_url": self.modal_url,
            "confirmation_message": self.confirmation_message,
            "show_overlay": self.show_overlay,
        }

    # --- description, registry ------------------------------------------------------------
    def describe(self) -> dict:
        """The action as JSON-able data; enough to rebuild it in another process."""
        return {
            "label": self.label,
            "callback": self._callback_path,
            "method": self._method,
            "url": self.url,
            "modal": self.modal_url,
            "enabled": self._enabled_path,
            "confirm": self.confirmation_message,
            "overlay": self.show_overlay,
            "job_type": self.job_type._meta.label,
        }

    @classmethod
    def from_description(cls, data: dict) -> CustomJobAction:
        """Rebuild an action from :meth:`describe` output (imports its functions).

        :raises ValueError: if a function or the job type no longer resolves.
        """
        callback = data.get("method")
        if data.get("callback"):
            callback = import_function(data["callback"])
            if callback is None:
                raise ValueError(f"Custom action callback {data['callback']} cannot be imported.")
        elif data.get("url"):
            callback = data["url"]
        enabled = None
        if data.get("enabled"):
            enabled = import_function(data["enabled"])
            if enabled is None:
                raise ValueError(f"enabled_callback {data['enabled']} cannot be imported.")
        try:
            job_type = apps.get_model(data["job_type"])
        except (LookupError, ValueError) as exc:
            raise ValueError(f"Unknown job type {data.get('job_type')!r}.") from exc
        return cls(
            data["label"],
            callback,
            enabled_callback=enabled,
            confirmation_message=data.get("confirm"),
            show_overlay=data.get("overlay", False),
            modal_url=data.get("modal"),
            job_type=job_type,
        )

    # --- behaviour ------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        """``"link"``, ``"modal"`` or ``"callback"``."""
        if self.url:
            return "link"
        if self.modal_url and not (self._method or self._callback_path):
            return "modal"
        return "callback"

    def is_enabled(self, job) -> bool:
        """Whether the action applies to ``job`` (its type, then ``enabled_callback``)."""
        if not isinstance(job, self.job_type):
            return False
        if self.enabled_callback is None:
            return True
        return bool(call(self.enabled_callback, job, job.cached_status))

    def perform(self, job):
        """Run the action on ``job``; returns the callback's result."""
        if self._method:
            return call(getattr(job, self._method))
        function = self.callback_function
        if function is None:
            raise ValueError(f'Custom action "{self.label}" has nothing to run.')
        return call(function, job)

    @property
    def callback_function(self):
        return import_function(self._callback_path) if self._callback_path else None

    def __repr__(self):
        return f"<CustomJobAction {self.name}>"


def action_name(description: dict) -> str:
    """The registry name of an action description: its label's slug and a digest."""
    text = json.dumps(description, sort_keys=True, separators=(",", ":"))
    digest = hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
    return f"{slugify(description['label'])[:40] or 'action'}-{digest}"


def register(action: CustomJobAction) -> str:
    """Register ``action`` and return its name (idempotent)."""
    name = action_name(action.describe())
    with _lock:
        _registry.setdefault(name, action)
        while len(_registry) > REGISTRY_SIZE:
            del _registry[next(iter(_registry))]  # the oldest entry
    return name


def get_custom_action(name: str, description: dict | None = None) -> CustomJobAction:
    """Return the registered action ``name``; when this process has not seen it, rebuild
    it from ``description`` (which must match ``name``) and register it.

    :raises KeyError: if the action is unknown and no matching description is given.
    :raises ValueError: if the description no longer resolves (a function was removed).
    """
    with _lock:
        action = _registry.get(name)
    if action is not None:
        return action
    if description is None or action_name(description) != name:
        raise KeyError(name)
    return get_custom_action(CustomJobAction.from_description(description).name)


def registered_actions() -> dict[str, CustomJobAction]:
    """A copy of the registry (name -> action)."""
    with _lock:
        return dict(_registry)
