"""A project that mounts tethys_compute under a prefix (tests of URL reversing)."""

from django.urls import include, path

urlpatterns = [path("portal/", include("tethys_compute.urls"))]
