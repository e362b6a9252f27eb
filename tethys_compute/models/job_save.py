"""How a job is saved (a mixin of ``TethysJob``): a new job is inserted, a loaded one
writes only the fields that changed since it was loaded, a changed ``_status`` goes
through the status rules, and ``extended_properties`` is merged key by key into the stored
value (DESIGN section 3)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.db import router, transaction
from django.db.models import F

from .. import status as st
from .job_status import STATUS_FIELDS, _short
from .validation import check_fields


class JobSave:
    """``save()`` and the merge of ``extended_properties`` of ``TethysJob``."""

    if TYPE_CHECKING:  # provided by TethysJob
        from django.db.models.base import ModelState

        pk: Any
        name: str
        _state: ModelState
        _status: str
        _other_status: str | None
        extended_properties: Any

        def update_status(self, *args: Any, **kwargs: Any) -> Any: ...
        def _loaded_value(self, name: str, default: Any = None) -> Any: ...
        def _take_snapshot(self, fields: Any = None) -> Any: ...
        def _changed_fields(self) -> Any: ...
        def _is_tracked(self) -> bool: ...

    def save(self, *args, **kwargs):
        """Save the job.

        A new job is inserted (and ``{id}`` in its name filled in). A job loaded from the
        database writes only the fields changed since it was loaded, so saving a stale
        copy never undoes a newer status or result. A changed ``_status`` goes through
        the status rules (:meth:`update_status`) rather than a plain write.

        :raises InvalidField: (a ``ValidationError`` and ``ValueError``) naming each field
            whose value cannot be stored (too long, NUL characters, out of range); nothing
            is written.
        """
        self._check_extended_properties()
        if self._state.adding or kwargs.get("force_insert") or not self._is_tracked():
            check_fields(self)
            return self._save_new(*args, **kwargs)
        check_fields(self, kwargs.get("update_fields") or self._changed_fields())
        if kwargs.get("update_fields") is not None:
            fields = list(kwargs.pop("update_fields"))
            if "extended_properties" in fields:
                fields.remove("extended_properties")
                self._merge_extended_properties()
                if not fields:
                    return None
            super().save(*args, update_fields=fields, **kwargs)
            self._take_snapshot(set(fields))
            return None
        changed = self._changed_fields()
        status_change = None
        if "_status" in changed:
            new = self._status
            self._status = self._loaded_value("_status")
            status_change = new
        plain = [name for name in changed if name not in STATUS_FIELDS]
        self._save_plain_fields(plain, *args, **kwargs)
        if status_change is not None:
            other = self._other_status or (self.extended_properties or {}).get(
                st.OTHER_STATUS_KEY)
            self.update_status(other if status_change == st.OTHER and other else status_change)
        return None

    def _save_plain_fields(self, names, *args, **kwargs):
        """Write the changed non-status fields ``names``: ``extended_properties`` as a
        merge of this copy's own changes into the stored value (:meth:`_merge_extended_properties`),
        the others with ``update_fields``."""
        names = list(names)
        if "extended_properties" in names:
            names.remove("extended_properties")
            self._merge_extended_properties()
        if names:
            super().save(*args, update_fields=names, **kwargs)
            self._take_snapshot(set(names))

    def _merge_extended_properties(self):
        """Write the keys of ``extended_properties`` this copy added, changed or removed
        since it was loaded into the stored dict, keeping the keys other processes wrote
        meanwhile (a change to one key replaces that key's whole value).

        One transaction: a no-op ``UPDATE`` of the row first takes its write lock (the
        row's on PostgreSQL and MySQL, the database's on SQLite), then the stored dict is
        read, merged and written; a concurrent merge waits for it. A dict replaced by
        ``None`` (or a row loaded with ``None``) is written as it is.
        """
        from .tethys_job import TethysJob

        current = self.extended_properties
        loaded = self._loaded_value("extended_properties")
        if current is None:
            TethysJob._base_manager.filter(pk=self.pk).update(extended_properties=None)
            self._take_snapshot({"extended_properties"})
            return
        loaded = loaded if isinstance(loaded, dict) else {}
        changed = {k: v for k, v in current.items() if k not in loaded or loaded[k] != v}
        removed = [k for k in loaded if k not in current]
        merged = self.merge_extended_properties(changed, removed)
        # The same dict, updated: a caller holding it keeps changing the job's own value.
        current.clear()
        current.update(merged)
        self._take_snapshot({"extended_properties"})

    def merge_extended_properties(self, changed: dict | None = None,
                                  removed: Iterable[str] = ()) -> dict:
        """Set the keys ``changed`` (a dict) and remove the keys ``removed`` in the stored
        ``extended_properties`` of this job, keeping every other stored key, atomically
        (see :meth:`save`). This instance is not changed.

        :returns: the stored dict after the merge.
        """
        from .tethys_job import TethysJob

        # TethysJob's own table: one single-table UPDATE takes the lock first (a subclass
        # queryset would read the parent's ids first, and on SQLite a transaction that read
        # before it writes can fail at once instead of waiting).
        model = TethysJob._base_manager
        with transaction.atomic(using=router.db_for_write(TethysJob)):
            rows = model.filter(pk=self.pk)
            rows.update(extended_properties=F("extended_properties"))  # the write lock
            stored = rows.values_list("extended_properties", flat=True).first()
            merged = dict(stored) if isinstance(stored, dict) else {}
            for key in removed:
                merged.pop(key, None)
            merged.update(changed or {})
            rows.update(extended_properties=merged)
        return merged

    def _check_extended_properties(self):
        props = self.extended_properties
        if props is None:
            return
        if not isinstance(props, dict):
            raise ValueError(
                f"Job {self.pk or self.name!r}: extended_properties must be a dict, "
                f"not {type(props).__name__}."
            )
        try:
            json.dumps(props)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"Job {self.pk or self.name!r}: extended_properties must hold only JSON "
                f"values (str, number, bool, None, list, dict): {exc}"
            ) from None

    def _save_new(self, *args, **kwargs):
        from .tethys_job import TethysJob

        props = self.extended_properties
        if isinstance(props, dict) and st.OTHER_STATUS_KEY in props:
            # A row made the Tethys way: its custom status text goes to its own column.
            text = props.pop(st.OTHER_STATUS_KEY)
            if not self._other_status and text:
                self._other_status = _short(text, 1024)
        super().save(*args, **kwargs)
        if "{id}" in (self.name or ""):
            self.name = self.name.replace("{id}", str(self.pk))
            TethysJob._base_manager.filter(pk=self.pk).update(name=self.name)
        self._take_snapshot()
