"""Functions named by their import path (results functions, custom table actions).

Such functions are stored as a path and imported again in whatever process needs them,
so they must be module-level: a lambda or nested function cannot be found by its path.
"""

from __future__ import annotations

import importlib
import inspect

from asgiref.sync import async_to_sync


def function_path(function, what: str = "function") -> str:
    """Return the import path (``module.qualname``) of a module-level function.

    :param what: what the function is for, used in the error message.
    :raises ValueError: if ``function`` is not callable, is a lambda or nested function,
        or cannot be imported back from its path.
    """
    if not callable(function):
        raise ValueError(f"The {what} must be a function or a dotted path, not {function!r}.")
    name = getattr(function, "__qualname__", "")
    module = inspect.getmodule(function)
    if not name or "<lambda>" in name or "<locals>" in name or module is None:
        raise ValueError(
            f"The {what} {function!r} must be a module-level function: it is imported by "
            "its path in every process (lambdas and nested functions cannot be)."
        )
    path = f"{module.__name__}.{name}"
    if import_function(path) is not function:
        raise ValueError(f"The {what} {path} cannot be imported back by its path.")
    return path


def import_function(path: str):
    """Import a callable by its ``module.qualname`` path; ``None`` when the path does not
    resolve to a callable."""
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                target = getattr(target, attr)
        except AttributeError:
            return None
        return target if callable(target) else None
    return None


def call(function, *args):
    """Call ``function`` (plain or ``async``) and return its result; a coroutine returned
    by a plain callable (a wrapped ``async def``) is awaited too."""
    if inspect.iscoroutinefunction(function):
        return async_to_sync(function)(*args)
    result = function(*args)
    if inspect.iscoroutine(result):

        async def wait():
            return await result

        return async_to_sync(wait)()
    return result
