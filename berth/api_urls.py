"""/api/v1/: each app contributes its own routes (see <app>/api/urls.py)."""

from django.urls import include, path

urlpatterns = [
    path("", include("hosts.api.urls")),
    path("", include("operations.api.urls")),
    path("", include("containers.api.urls")),
    path("", include("policies.api.urls")),
    path("", include("images.api.urls")),
    path("", include("networks.api.urls")),
    path("", include("volumes.api.urls")),
    path("", include("deployments.api.urls")),
    path("", include("accounts.api.urls")),
]
