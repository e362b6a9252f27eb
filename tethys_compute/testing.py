"""``TethysTestCase`` for apps' own tests (Tethys's ``tethys_sdk.testing``), ported.

Subclasses override ``set_up()``/``tear_down()`` instead of ``setUp``/``tearDown`` and
use the helpers below, as in Tethys. Tethys's persistent-store helpers are not part of
the Jobs API and are not provided.
"""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.test import Client, TestCase


class TethysTestCase(TestCase):
    """A Django ``TestCase`` with Tethys's hooks and helpers. Each test starts with the
    apps' scheduler settings to be synced again on first use (Tethys harvests the apps
    before each test); logging is silenced during the test, as in Tethys."""

    def setUp(self):
        from .app_base import forget_synced

        forget_synced()
        logging.disable(logging.CRITICAL)
        self.set_up()

    def tearDown(self):
        try:
            self.tear_down()
        finally:
            logging.disable(logging.NOTSET)

    def set_up(self):
        """Override: runs before each test."""

    def tear_down(self):
        """Override: runs after each test."""

    @staticmethod
    def create_test_user(username, password, email=None):
        """Create and return a user (the project's user model)."""
        return get_user_model().objects.create_user(username=username, password=password,
                                                    email=email)

    @staticmethod
    def create_test_superuser(username, password, email=None):
        """Create and return a superuser (the project's user model)."""
        return get_user_model().objects.create_superuser(username=username,
                                                         password=password, email=email)

    @staticmethod
    def get_test_client():
        """Return a ``django.test.Client``."""
        return Client()
