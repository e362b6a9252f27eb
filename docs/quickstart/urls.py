from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("tethys_compute.urls")),
    path("my-app/", include("my_app.urls")),
]
