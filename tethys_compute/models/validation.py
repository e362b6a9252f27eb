"""Checking a model's field values before they are written, so a bad value is a clear
error naming the field instead of a database error (or, on SQLite, a value silently
longer than its column): text longer than ``max_length``, NUL characters (PostgreSQL
cannot store them, in text or in JSON), integers outside the column's range.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

NUL = "\x00"
_MAX_DEPTH = 64


class InvalidField(ValidationError, ValueError):
    """A field's value cannot be stored. A :class:`~django.core.exceptions.ValidationError`
    (``message_dict`` maps each bad field to its reasons) that is also a ``ValueError``."""


def no_nul(text: str) -> str:
    """``text`` with each NUL character replaced by U+FFFD (for free text such as
    status and progress messages, which are accepted rather than refused)."""
    return text.replace(NUL, "\ufffd") if NUL in text else text


def _json_has_nul(value, depth=0) -> bool:
    if depth > _MAX_DEPTH:
        return False
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(_json_has_nul(k, depth + 1) or _json_has_nul(v, depth + 1)
                   for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_json_has_nul(v, depth + 1) for v in value)
    return False


def _problem(field, value):
    from .fields import EncryptedCharField

    if hasattr(field, "value_problem"):
        return field.value_problem(value)
    if isinstance(field, (models.CharField, models.TextField)) and isinstance(value, str):
        if NUL in value:
            return "must not contain NUL characters"
        if (field.max_length and not isinstance(field, EncryptedCharField)
                and len(value) > field.max_length):
            return f"must be at most {field.max_length} characters long (it has {len(value)})"
    elif isinstance(field, models.JSONField):
        if _json_has_nul(value):
            return "must not contain NUL characters"
    elif isinstance(field, models.IntegerField) and isinstance(value, (int, float)):
        if isinstance(value, float) and not value.is_integer():
            return f"must be a whole number (it is {value})"  # the database would cut it
        for validator in field.validators:
            if isinstance(validator, MinValueValidator) and value < validator.limit_value:
                return f"must be at least {validator.limit_value} (it is {value})"
            if isinstance(validator, MaxValueValidator) and value > validator.limit_value:
                return f"must be at most {validator.limit_value} (it is {value})"
    return None


def _checked_fields(model) -> list:
    """The concrete fields of ``model`` whose values :func:`_problem` can refuse (worked
    out once per class: a new job's save checks every field)."""
    found = model.__dict__.get("_tc_checked_fields")
    if found is None:
        from .fields import EncryptedCharField

        # (field, whether it is plain text: at most max_length characters, no NUL)
        found = [(f, isinstance(f, (models.CharField, models.TextField))
                  and not isinstance(f, EncryptedCharField)
                  and not hasattr(f, "value_problem"))
                 for f in model._meta.concrete_fields
                 if hasattr(f, "value_problem") or isinstance(
                     f, (models.CharField, models.TextField, models.JSONField,
                         models.IntegerField))]
        model._tc_checked_fields = found
    return found


def check_fields(instance, fields=None):
    """Check the values of ``instance``'s concrete fields (or only those named in
    ``fields``) before they are written.

    :raises InvalidField: naming every field whose value cannot be stored, and why.
    """
    errors = {}
    for field, plain_text in _checked_fields(type(instance)):
        if fields is not None and field.name not in fields and field.attname not in fields:
            continue
        value = getattr(instance, field.attname, None)
        if value is None:
            continue
        if plain_text and type(value) is str and NUL not in value and (
                field.max_length is None or len(value) <= field.max_length):
            continue  # the common case, without the full check's tests
        problem = _problem(field, value)
        if problem:
            errors[field.name] = [f"{field.name} {problem}."]
    if errors:
        raise InvalidField(errors)
