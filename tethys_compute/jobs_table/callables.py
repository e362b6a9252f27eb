"""How a custom action's callables are found again in a server process.

Tethys accepts any callable for ``callback_or_url`` and ``enabled_callback`` (lambdas,
closures, bound methods, module functions) and attaches it to the job class in the
process that builds the table. A table's requests may land in another process (several
workers), so each callable is described by a *reference* that travels in the table's
signed configuration:

* a string: the import path of a module-level function (``"my_app.actions.archive"``),
  found by importing it in any process;
* ``{"registered": name}``: a callable the app registered under ``name`` with
  :func:`register_action_callable` when its modules load, so every process that loaded
  them knows it;
* ``{"local": "<where it was defined>"}``: any other callable (a lambda or closure built
  in a view, a bound method). Only a process that built the table holds it; elsewhere it
  resolves to an :class:`Unavailable` placeholder.
"""

from __future__ import annotations

import inspect
import logging
import threading

from ..functions import import_function

logger = logging.getLogger("tethys_compute.jobs_table")

_registered: dict[str, object] = {}
_lock = threading.Lock()
_warned: set = set()


class Unavailable:
    """Stands for a callable this process cannot run (a ``local`` reference, or a
    registered name nobody registered here). Calling it raises :class:`LookupError`."""

    def __init__(self, ref):
        self.ref = ref

    def __call__(self, *args, **kwargs):
        raise LookupError(f"the callable {describe_ref(self.ref)} is not available here")

    def __repr__(self):
        return f"<Unavailable {describe_ref(self.ref)}>"


def register_action_callable(function=None, *, name=None):
    """Register ``function`` for custom actions under ``name``, so that every server
    process that imported the registering module can run it, whichever process built
    the table. Call it when the app's modules load (at module level, e.g. next to the
    function, or in ``AppConfig.ready()``); it returns ``function``, so it also works as
    a decorator (``@register_action_callable`` or
    ``@register_action_callable(name="my_app.archive")``).

    A table whose ``CustomJobAction`` is given this same callable (the same object, or
    an equal bound method) refers to it by ``name``. Needed only for callables that
    cannot be imported by their path (lambdas, bound methods, callable objects);
    module-level functions work everywhere without it.

    :param function: any callable.
    :param name: the registered name (``str``); default ``module.qualname`` of the
        function, which lambdas must not rely on (give a name).
    :raises ValueError: if ``function`` is not callable, a lambda has no ``name``, or
        ``name`` is already registered for a different callable.
    """
    if function is None:
        return lambda func: register_action_callable(func, name=name)
    if not callable(function) or isinstance(function, type):
        raise ValueError(f"Only callables can be registered for custom actions, not {function!r}.")
    if name is None:
        qualname = getattr(function, "__qualname__", "")
        module = getattr(function, "__module__", "")
        if not qualname or not module or "<lambda>" in qualname:
            raise ValueError(
                f"Give {function!r} a name: register_action_callable(function, name=...)."
            )
        name = f"{module}.{qualname}"
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"A registered callable needs a non-empty name, not {name!r}.")
    with _lock:
        old = _registered.get(name)
        if old is not None and old != function and definition(old) != definition(function):
            raise ValueError(f"{name!r} is already registered for {old!r}.")
        _registered[name] = function  # a re-imported module replaces its own entry
    return function


def registered_name(function) -> str | None:
    """The name ``function`` was registered under, or ``None``."""
    with _lock:
        items = list(_registered.items())
    for name, candidate in items:
        if candidate is function:
            return name
    for name, candidate in items:
        try:
            if candidate == function:  # bound methods of one object compare equal
                return name
        except Exception:  # noqa: BLE001,S112 - an odd __eq__ just does not match
            continue
    return None


def definition(function) -> str:
    """Where ``function`` was defined: ``module.qualname:line`` (its class's for a callable
    object). Two lambdas of one view differ by line; a closure rebuilt per request keeps
    its definition."""
    inner = inspect.unwrap(getattr(function, "__func__", function))
    code = getattr(inner, "__code__", None)
    if code is None:
        klass = type(inner)
        return f"{klass.__module__}.{klass.__qualname__}.__call__"
    module = getattr(inner, "__module__", None) or "?"
    qualname = getattr(inner, "__qualname__", None) or code.co_name
    return f"{module}.{qualname}:{code.co_firstlineno}"


def importable_path(function) -> str | None:
    """The import path of a module-level function (``module.qualname``) when importing it
    gives back this very function; else ``None``."""
    name = getattr(function, "__qualname__", "")
    module = inspect.getmodule(function)
    if not name or "<" in name or module is None or inspect.ismethod(function):
        return None
    path = f"{module.__name__}.{name}"
    return path if import_function(path) is function else None


def reference(function):
    """The reference (see the module docstring) that finds ``function`` again."""
    path = importable_path(function)
    if path is not None:
        return path
    name = registered_name(function)
    if name is not None:
        return {"registered": name}
    return {"local": definition(function)}


def is_local(ref) -> bool:
    return isinstance(ref, dict) and "local" in ref


def resolve(ref):
    """The callable a reference names in this process, or :class:`Unavailable`.

    :raises ValueError: for a malformed reference, or an import path that no longer
        resolves (a function was removed or renamed).
    """
    if isinstance(ref, str):
        function = import_function(ref)
        if function is None:
            raise ValueError(f"{ref} cannot be imported.")
        return function
    if isinstance(ref, dict) and isinstance(ref.get("registered"), str):
        with _lock:
            function = _registered.get(ref["registered"])
        return function if function is not None else Unavailable(ref)
    if isinstance(ref, dict) and isinstance(ref.get("local"), str):
        return Unavailable(ref)
    raise ValueError(f"Malformed callable reference {ref!r}.")


def describe_ref(ref) -> str:
    if isinstance(ref, dict) and "registered" in ref:
        return f"registered as {ref['registered']!r}"
    if isinstance(ref, dict) and "local" in ref:
        return f"{ref['local']} (not importable)"
    return str(ref)


def warn_once(action, what: str, ref, consequence: str) -> None:
    """Log, once per process, that ``action``'s ``what`` cannot run here."""
    key = (action.name, what)
    with _lock:
        if key in _warned:
            return
        _warned.add(key)
    logger.warning(
        'Jobs table: the %s of custom action "%s", %s, cannot run in this server process '
        "(it never built that table); %s. Make it a module-level function, or register it "
        "with tethys_compute.jobs_table.register_action_callable() when the app's modules "
        'load (see "Custom actions in several processes" in the jobs table docs).',
        what, action.label, describe_ref(ref), consequence,
    )
