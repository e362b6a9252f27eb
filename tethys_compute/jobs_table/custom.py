"""``CustomJobAction`` and the registry of custom actions.

Tethys attaches a custom action's callback (and its "enabled" test) to the job class with
``setattr`` when the gizmo is built, so the action only works in the server process that
happened to build that table, and two apps whose functions share a name overwrite each
other (see "Differences from Tethys" in the docs). Here nothing is attached to any class:

* an action is described by plain data (its label, a reference to its callback or the
  name of a job method, its links, ...; see :mod:`.callables` for references) and
  registered under a name derived from a digest of that description, so identical
  descriptions share one entry and different ones (another app's "Archive") can never
  take each other's place;
* the table carries each custom action's description in its signed configuration, so a
  server process that never built the table rebuilds it on first use: module-level
  functions are imported by their path, registered callables
  (:func:`~.callables.register_action_callable`) found by their name;
* any other callable (a lambda or closure built in a view, a bound method) is held by
  the process that built the table, which behaves exactly as Tethys. Elsewhere the
  ``enabled_callback``'s answer comes signed with the row (``rows``), and running the
  action is refused with a clear message and a warning in the log.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.utils.text import slugify

from ..functions import call
from . import callables
from .callables import Unavailable
from .links import check_link, is_url_spec

if TYPE_CHECKING:
    from ..models import TethysJob

# Bounded: an app that builds actions with per-request texts cannot grow it without end;
# an entry that was dropped is rebuilt from the table's signed description when needed.
REGISTRY_SIZE = 512
_registry: dict[str, CustomJobAction] = {}
_lock = threading.Lock()


class ActionUnavailable(RuntimeError):
    """The action's callback cannot run in this server process (see :mod:`.callables`)."""


def _job_base():
    from ..models import TethysJob

    return TethysJob


class CustomJobAction:
    """An app-defined entry of a jobs table's action menu (Tethys's ``CustomJobAction``).

    :param label: the menu text (``str``).
    :param callback_or_url: either a link (a string containing ``:`` or ``/``: a URL name
        reversed with ``job_id``, or a path; see :mod:`tethys_compute.jobs_table.links`),
        the name of a method of ``job_type`` (called with no arguments), or any callable
        (function, lambda, closure, bound method) called as ``callback(job)``. A string
        it returns is shown to the user. ``async`` functions are awaited.
    :param enabled_callback: any callable ``(job, job_status) -> bool`` where
        ``job_status`` is the display status (``"Running"``); the action is offered
        only when it returns true. Checked again on the server before the action runs.
        Which callables work in which deployment: "Custom actions in several processes"
        in the docs (module-level functions and registered callables everywhere; others
        in the process that built the table, elsewhere through the state signed in the
        row).
    :param confirmation_message: text of a confirmation dialog shown first (plain text).
    :param show_overlay: cover the table with a spinner while the action runs.
    :param modal_url: a link (as ``callback_or_url``) whose HTML is shown in a dialog
        instead of running a callback: as Tethys injects it, but in a sandboxed frame
        styled with the page's stylesheets, where its scripts do not run (use a link
        action for interactive pages).
    :param job_type: the ``TethysJob`` subclass the action applies to (default
        ``TethysJob``); jobs of other types show it disabled.
    :raises ValueError: with Tethys's messages when neither ``callback_or_url`` nor
        ``modal_url`` is given, or the callback is not valid; and when a link cannot be
        reversed, or ``job_type`` is not a job model.
    """

    def __init__(
        self,
        label: str,
        callback_or_url: str | Callable[..., Any] | Any = None,
        enabled_callback: Callable[..., Any] | None = None,
        confirmation_message: str | None = None,
        show_overlay: bool = False,
        modal_url: Any = None,
        job_type: type[TethysJob] | None = None,
    ) -> None:
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
        self._callback_ref = None
        self._callback_fn = None
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
        self._enabled_ref = None
        if enabled_callback is not None:
            if not callable(enabled_callback) or isinstance(enabled_callback, type):
                raise ValueError(f'The enabled_callback "{enabled_callback}" is not valid.')
            self._enabled_ref = _reference(enabled_callback)
        if confirmation_message is not None and not isinstance(confirmation_message, str):
            raise ValueError("confirmation_message must be a string.")
        self.confirmation_message = confirmation_message or None
        self.show_overlay = bool(show_overlay)
        self.name = register(self)

    def register_callback(self, callback, job_type):
        """Check ``callback`` and remember how to call it; return its name (as Tethys).

        :raises ValueError: ``'The specified callback "..." is not valid.'`` for a string
            that is not a public method of ``job_type``, or anything that is neither a
            string nor a callable.
        """
        if isinstance(callback, str):
            member = getattr(job_type, callback, None)
            if callback.startswith("_") or member is None or not callable(member):
                raise ValueError(f'The specified callback "{callback}" is not valid.')
            self._method = callback
            return callback
        if callable(callback) and not isinstance(callback, type):
            self._callback_ref = _reference(callback)
            self._callback_fn = callback
            return _callable_name(callback)
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
            "callback": self._callback_ref,
            "method": self._method,
            "url": self.url,
            "modal": self.modal_url,
            "enabled": self._enabled_ref,
            "confirm": self.confirmation_message,
            "overlay": self.show_overlay,
            "job_type": self.job_type._meta.label,
        }

    @classmethod
    def from_description(cls, data: dict) -> CustomJobAction:
        """Rebuild an action from :meth:`describe` output (imports its functions, finds
        registered callables; a callable this process cannot have becomes
        :class:`~.callables.Unavailable`).

        :raises ValueError: if an import path or the job type no longer resolves.
        """
        callback = data.get("method")
        if data.get("callback"):
            try:
                callback = callables.resolve(data["callback"])
            except ValueError as exc:
                raise ValueError(f"Custom action callback: {exc}") from exc
        elif data.get("url"):
            callback = data["url"]
        enabled = None
        if data.get("enabled"):
            try:
                enabled = callables.resolve(data["enabled"])
            except ValueError as exc:
                raise ValueError(f"enabled_callback: {exc}") from exc
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
        if self.modal_url and not (self._method or self._callback_ref):
            return "modal"
        return "callback"

    @property
    def carries_enabled(self) -> bool:
        """Whether rows carry this action's enabled state signed (its
        ``enabled_callback`` is not importable by path, so some process may lack it)."""
        return isinstance(self._enabled_ref, dict)

    @property
    def enabled_available(self) -> bool:
        """Whether this process can call the ``enabled_callback`` (or has none)."""
        return not isinstance(self.enabled_callback, Unavailable)

    def is_enabled(self, job, carried=None) -> bool:
        """Whether the action applies to ``job`` (its type, then ``enabled_callback``).

        :param carried: the answer signed into the job's row by a process that could
            call ``enabled_callback`` (``True``/``False``, ``None`` when there is none);
            used only when this process cannot call it (then ``None`` means disabled).
        """
        if not isinstance(job, self.job_type):
            return False
        if self.enabled_callback is None:
            return True
        if not self.enabled_available:
            callables.warn_once(
                self, "enabled_callback", self._enabled_ref,
                "the enabled state signed into each row by the process that rendered it is "
                "used, and rows without one show the action disabled",
            )
            return bool(carried)
        return bool(call(self.enabled_callback, job, job.cached_status))

    def perform(self, job):
        """Run the action on ``job``; returns the callback's result.

        :raises ActionUnavailable: if the callback cannot run in this process.
        """
        if self._method:
            return call(getattr(job, self._method))
        function = self._callback_fn
        if function is None:
            raise ValueError(f'Custom action "{self.label}" has nothing to run.')
        if isinstance(function, Unavailable):
            callables.warn_once(self, "callback", self._callback_ref,
                                "requests to run it are answered with an error")
            raise ActionUnavailable(
                f'"{self.label}" cannot run in this server process (see the server log).')
        return call(function, job)

    @property
    def callback_function(self):
        """The callable this process runs for the action (``None`` for a link, modal or
        method; :class:`~.callables.Unavailable` when it cannot run here)."""
        return self._callback_fn

    @property
    def is_complete(self) -> bool:
        """Whether this process holds every callable of the action."""
        return not any(isinstance(f, Unavailable) for f in (self._callback_fn,
                                                             self.enabled_callback))

    def __repr__(self):
        return f"<CustomJobAction {self.name}>"


def action_name(description: dict) -> str:
    """The registry name of an action description: its label's slug and a digest."""
    text = json.dumps(description, sort_keys=True, separators=(",", ":"))
    digest = hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
    return f"{slugify(description['label'])[:40] or 'action'}-{digest}"


def _reference(function):
    return function.ref if isinstance(function, Unavailable) else callables.reference(function)


def _callable_name(function) -> str:
    """Tethys's ``callback`` value: the callable's ``__name__``."""
    if isinstance(function, Unavailable):
        ref = function.ref
        text = ref.get("registered") or ref.get("local", "") if isinstance(ref, dict) else ref
        return str(text).split(":")[0].rsplit(".", 1)[-1]
    inner = getattr(function, "__func__", function)
    return getattr(inner, "__name__", type(inner).__name__)


def register(action: CustomJobAction) -> str:
    """Register ``action`` and return its name.

    Identical descriptions share one entry (the first object is kept), except that an
    action holding a callable only this process has (a lambda or closure built in a
    view) replaces the entry, so the latest table built wins, as in Tethys. An action
    missing a callable here is not kept, so a later registration can complete it.
    """
    name = action_name(action.describe())
    if not action.is_complete:
        return name
    local = any(callables.is_local(ref) for ref in (action._callback_ref, action._enabled_ref))
    with _lock:
        if local:
            _registry.pop(name, None)
            _registry[name] = action
        else:
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
    action = CustomJobAction.from_description(description)
    with _lock:
        return _registry.get(name, action)


def registered_actions() -> dict[str, CustomJobAction]:
    """A copy of the registry (name -> action)."""
    with _lock:
        return dict(_registry)
