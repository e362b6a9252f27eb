"""Django's request-size limits, answered as the callback endpoints answer every bad
request: a JSON 400 naming the problem.

Reading ``request.GET``, ``request.POST`` or ``request.body`` past
``DATA_UPLOAD_MAX_NUMBER_FIELDS`` or ``DATA_UPLOAD_MAX_MEMORY_SIZE`` raises
``TooManyFieldsSent`` or ``RequestDataTooBig`` (``TooManyFilesSent`` for
``DATA_UPLOAD_MAX_NUMBER_FILES``); left to Django, they become its HTML 400 page, which a
reporter expecting JSON cannot read.
"""

from __future__ import annotations

import functools
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import JsonResponse

logger = logging.getLogger("tethys_compute.callbacks")


def _problem(exc) -> str:
    if isinstance(exc, TooManyFieldsSent):
        return ("the request has too many fields (more than DATA_UPLOAD_MAX_NUMBER_FIELDS = "
                f"{settings.DATA_UPLOAD_MAX_NUMBER_FIELDS})")
    if isinstance(exc, TooManyFilesSent):
        return ("the request has too many files (more than DATA_UPLOAD_MAX_NUMBER_FILES = "
                f"{settings.DATA_UPLOAD_MAX_NUMBER_FILES})")
    return ("the request body is too large (more than DATA_UPLOAD_MAX_MEMORY_SIZE = "
            f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes)")


def json_request_limits(view):
    """Decorate a callback view: a request over Django's upload limits gets
    ``{"success": false, "error": "..."}`` with status 400 (logged as a warning, without
    the request's fields) instead of Django's HTML 400 page."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except (TooManyFieldsSent, TooManyFilesSent, RequestDataTooBig) as exc:
            problem = _problem(exc)
            logger.warning("Callback %s refused: %s", request.path, problem)
            return JsonResponse({"success": False, "error": problem}, status=400)

    return wrapped
