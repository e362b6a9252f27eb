"""Who may see and act on which jobs through a jobs table, and anonymous visitors.

A user may see and act on a job of a table when the job belongs to one of the table's
apps (its ``label``) *and* the user owns it, belongs to one of its groups, or holds the
``tethys_compute.jobs_table_actions`` permission (``TethysJob.objects.visible_to``).
Any other job, existing or not, is answered the same way ("No such job.", 404).

Anonymous visitors are refused (JSON 401) unless ``TETHYS_COMPUTE["JOBS_TABLE_ALLOW_
ANONYMOUS"]`` is true. Then each visitor's session gets its own *shadow user*: a real,
active user row named ``anonymous-<random>`` with an unusable password, created on
demand by :func:`get_jobs_user` and remembered in the session. Jobs need an owner, so an
app creates a visitor's jobs with ``job_manager.create_job(..., user=get_jobs_user(
request))``; the visitor then sees exactly the jobs of their own session, never another
visitor's. :func:`purge_anonymous_users` deletes old shadow users and their jobs.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from ..conf import get_config

SESSION_KEY = "_tethys_compute_jobs_user"
ANONYMOUS_PREFIX = "anonymous-"


def anonymous_allowed() -> bool:
    return bool(get_config()["JOBS_TABLE_ALLOW_ANONYMOUS"])


def get_jobs_user(request, create=True):
    """Return the user whose jobs ``request`` may use.

    A logged-in user is returned as is. For an anonymous visitor, when anonymous use is
    allowed, the session's shadow user (created and stored in the session when
    ``create`` is true and there is none yet); otherwise ``None``.

    :raises ImproperlyConfigured: if anonymous use is allowed but the request has no
        session (``SessionMiddleware`` missing).
    """
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user
    if not anonymous_allowed():
        return None
    session = getattr(request, "session", None)
    if session is None:
        raise ImproperlyConfigured(
            'TETHYS_COMPUTE["JOBS_TABLE_ALLOW_ANONYMOUS"] needs '
            "django.contrib.sessions.middleware.SessionMiddleware."
        )
    model = get_user_model()
    pk = session.get(SESSION_KEY)
    if pk is not None:
        shadow = (
            model._default_manager.filter(
                pk=pk,
                is_active=True,
                **{f"{model.USERNAME_FIELD}__startswith": ANONYMOUS_PREFIX},
            ).first()
        )
        if shadow is not None:
            return shadow
    if not create:
        return None
    shadow = model(**{model.USERNAME_FIELD: ANONYMOUS_PREFIX + secrets.token_hex(12)})
    shadow.set_unusable_password()
    shadow.save()
    session[SESSION_KEY] = shadow.pk
    return shadow


def is_shadow_user(user) -> bool:
    """True for a shadow user made for an anonymous visitor."""
    name = getattr(user, "get_username", lambda: "")()
    return bool(name) and name.startswith(ANONYMOUS_PREFIX) and not user.has_usable_password()


def purge_anonymous_users(older_than=timedelta(days=7)) -> int:
    """Delete shadow users created more than ``older_than`` ago (a ``timedelta``), with
    their jobs (whose remote work is stopped and directories removed as for any
    deletion). Returns the number of users deleted."""
    model = get_user_model()
    candidates = model._default_manager.filter(
        **{f"{model.USERNAME_FIELD}__startswith": ANONYMOUS_PREFIX}
    )
    if hasattr(model, "date_joined"):
        candidates = candidates.filter(date_joined__lt=timezone.now() - older_than)
    deleted = 0
    for user in candidates:
        if is_shadow_user(user):
            user.delete()
            deleted += 1
    return deleted


def table_jobs(user, config, among=None):
    """The jobs ``user`` may see and act on through a table with ``config``, as a
    queryset (not yet of subclasses): of the table's apps, visible to ``user``, and, for
    a table built from a query, matching that query.

    :param among: job ids (an iterable of int) to keep to, or ``None`` for all: the jobs
        and their group memberships are then looked up by primary key (a poll's rows).
    :raises ValueError: if the table's query is malformed.
    """
    from ..models import TethysJob
    from .query import pinned_user, restrict

    if user is None:
        return TethysJob.objects.none()
    jobs = TethysJob.objects.filter(label__in=config.labels)
    if config.source is not None and user.is_authenticated and user.is_active and \
            pinned_user(config.source) == user.pk:
        # A table of the viewer's own jobs (``list_jobs(user=viewer)``): they see them
        # all, and without visible_to's "own OR shared with a group" condition the
        # database reads the (label, user) index instead of every job of the app.
        jobs = jobs.filter(user=user)
        if among is not None:
            jobs = jobs.filter(pk__in=list(among))
    else:
        jobs = jobs.visible_to(user, among=among)
    return jobs if config.source is None else restrict(jobs, config.source)
