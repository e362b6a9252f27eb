"""What the abstract model mixins of ``TethysJob`` (``RetryPolicy``, ``QuotaWait``,
``JobUsage``) use from the job they are mixed into, declared once for type checkers."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any


class JobPart:
    """A base of ``TethysJob``'s mixins; at run time it adds nothing."""

    if TYPE_CHECKING:  # provided by TethysJob
        attempt: int
        label: str
        user_id: int
        _status: str
        execute_time: datetime | None

        @property
        def is_terminal(self) -> bool: ...

        def _write_status(self, *args: Any, **kwargs: Any) -> Any: ...
        def _claim_run(self, *args: Any, **kwargs: Any) -> Any: ...
        def _take_snapshot(self, *args: Any, **kwargs: Any) -> Any: ...
