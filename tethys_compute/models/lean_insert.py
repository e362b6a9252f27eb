"""A new job's INSERT names only the columns that hold a value.

A job row has about 25 columns, most of them empty (NULL) until the job runs; Django's
INSERT names every column and binds every value, so a new job's ``save()`` paid for a
row twice as wide as Tethys's. Leaving a nullable column out of the INSERT stores the
same NULL (the column has no database default unless the field declares ``db_default``,
and such fields are always written), so only columns with a value are written.
"""

from __future__ import annotations


def _omittable(field) -> bool:
    flag = field.__dict__.get("_tc_omittable")
    if flag is None:  # worked out once per field
        flag = field._tc_omittable = (
            field.null and not field.primary_key and not field.has_db_default()
            and not getattr(field, "auto_now", False)
            and not getattr(field, "auto_now_add", False))
    return flag


class LeanInsert:
    """Mixin of ``TethysJob``: INSERTs without the empty nullable columns."""

    def _do_insert(self, manager, using, fields, returning_fields, raw):
        data = self.__dict__
        fields = [f for f in fields
                  if not (_omittable(f) and data.get(f.attname, 0) is None)]
        return super()._do_insert(manager, using, fields, returning_fields, raw)
