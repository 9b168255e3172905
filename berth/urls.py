"""Top-level URL map: the dashboard, the admin, the REST API and its schema."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.views import LoginView
from berth.monitoring import views as monitoring

urlpatterns = [
    path("", include("frontend.urls")),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # One login page for the whole site, so every password login is rate limited.
    path("admin/login/", RedirectView.as_view(pattern_name="login", query_string=True)),
    path("admin/", admin.site.urls),
    path("api/v1/", include("berth.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    # Probes and the scrape: no login (docs/operations.md).
    path("healthz", monitoring.healthz, name="healthz"),
    path("readyz", monitoring.readyz, name="readyz"),
    path("metrics", monitoring.metrics_view, name="metrics"),
]

# JSON under /api/, Django's pages elsewhere (berth/api_errors.py).
handler404 = "berth.api_errors.handler404"
handler500 = "berth.api_errors.handler500"
