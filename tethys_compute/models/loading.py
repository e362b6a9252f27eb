"""Building a loaded job without running ``Model.__init__`` per row.

A job row has about 46 columns (Tethys's has 14): Tethys's own fields and those of every
feature (retries, notifications, quotas, usage, run limits...). Django builds each loaded
object with ``cls(*values)``, whose ``__init__`` sends ``pre_init``, then goes through
``setattr`` and the field's descriptor once per column, then sends ``post_init``. For a
row whose every column was selected, the result is the values in the instance's
``__dict__`` under the fields' attnames, plus a ``ModelState`` (``adding = False``, the
database alias). :func:`build` makes exactly that directly, when it is the same:

* every column was loaded, or (``only()``/``defer()``) the loaded ones are given by name
  in the class's field order: the others are left out of ``__dict__``, deferred, as
  Django's ``from_db`` leaves them (``Model.__init__`` skips a ``DEFERRED`` value);
* no receiver of ``pre_init`` or ``post_init`` is connected for the class (checked on
  every load, so a receiver connected later is honoured);
* the class runs no ``__init__`` of its own for positional values (an app's job class
  with its own ``__init__`` keeps Django's path; ``CondorPyJob.__init__`` is marked as
  plain for them, see :data:`PLAIN_INITS`);
* the attribute of every field is a descriptor whose ``__set__`` only stores the value in
  ``__dict__`` (Django's ``DeferredAttribute`` and ``ForeignKeyDeferredAttribute`` on a
  new object, and :class:`~.change_tracking.TrackedAttribute`), checked once per class.
"""

from __future__ import annotations

from django.db.models import Model
from django.db.models.base import ModelState
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init

#: ``__init__`` methods known to do nothing beyond ``Model.__init__`` when given the
#: positional values of a loaded row (``from_db``): classes add theirs with
#: :func:`plain_init`.
PLAIN_INITS: set = {Model.__init__}

_PLAN = "_tc_load_plan"  # per class: the attnames in concrete-field order, or False


def plain_init(cls):
    """Class decorator: ``cls.__init__``, given only positional field values, does what
    ``Model.__init__`` does (so a loaded row of it may be built without calling it)."""
    PLAIN_INITS.add(cls.__dict__["__init__"])
    return cls


def _plain_setter(descriptor) -> bool:
    from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute

    from .change_tracking import TrackedAttribute

    # Exact classes: a subclass may do more in __set__ (or define one).
    return type(descriptor) in (DeferredAttribute, ForeignKeyDeferredAttribute,
                                TrackedAttribute)


def _plan(cls):
    plan = cls.__dict__.get(_PLAN)
    if plan is None:
        plan = False
        # Every __init__ cls(*values) would run (Model.__init__ calls super().__init__()).
        inits_plain = all(
            klass.__dict__["__init__"] in PLAIN_INITS
            for klass in cls.__mro__ if klass is not object and "__init__" in klass.__dict__)
        fields = cls._meta.concrete_fields
        if inits_plain and all(_plain_setter(getattr(cls, f.attname, None)) for f in fields):
            plan = tuple(f.attname for f in fields)
        setattr(cls, _PLAN, plan)
    return plan


#: (class, loaded attnames) -> whether they are distinct and in the class's field order.
_SUBSETS: dict = {}


def _in_order(cls, attnames, field_names) -> bool:
    key = (cls, tuple(field_names))
    known = _SUBSETS.get(key)
    if known is None:
        position = {name: index for index, name in enumerate(attnames)}
        indexes = [position.get(name, -1) for name in key[1]]
        known = _SUBSETS[key] = (-1 not in indexes and indexes == sorted(set(indexes)))
    return known


def build(cls, db, values, fetch_mode=None, field_names=None):
    """The loaded instance of ``cls`` for a row of its concrete fields' ``values`` (in
    ``cls._meta.concrete_fields`` order; a subset of them named by ``field_names``, the
    others deferred), or ``None`` when Django's own path is needed (see the module's
    docstring)."""
    attnames = _plan(cls)
    if (not attnames
            or (pre_init.receivers and pre_init.has_listeners(cls))
            or (post_init.receivers and post_init.has_listeners(cls))):
        return None
    if len(values) != len(attnames):
        if field_names is None or len(field_names) != len(values) \
                or not _in_order(cls, attnames, field_names):
            return None
        attnames = field_names
    new = cls.__new__(cls)
    state = ModelState()
    state.adding = False
    state.db = db
    if fetch_mode is not None:  # Django 6.1
        state.fetch_mode = fetch_mode
    data = new.__dict__
    data["_state"] = state
    data.update(zip(attnames, values, strict=True))
    return new
