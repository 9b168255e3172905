"""Top-level URL map: the dashboard, the admin, the REST API and its schema."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.views import LoginView
from berth.monitoring import views as monitoring

# Its init script comes from its own URL (?script), not inline: the page passes the
# Content-Security-Policy. Both need a login (SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"]).
_swagger_ui = SpectacularSwaggerSplitView.as_view(
    url_name="schema", template_name="frontend/swagger_ui.html"
)


def api_docs(request: HttpRequest) -> HttpResponse:
    """Swagger UI for people with a session (or a token); a browser without either is
    sent to the login page rather than shown a 401."""
    if not request.user.is_authenticated and "HTTP_AUTHORIZATION" not in request.META:
        return redirect_to_login(request.get_full_path())
    response: HttpResponse = _swagger_ui(request)
    return response


urlpatterns = [
    path("", include("frontend.urls")),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # One login page for the whole site, so every password login is rate limited.
    path("admin/login/", RedirectView.as_view(pattern_name="login", query_string=True)),
    path("admin/", admin.site.urls),
    path("api/v1/", include("berth.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", api_docs, name="api-docs"),
    # Probes and the scrape: no login (docs/operations.md).
    path("healthz", monitoring.healthz, name="healthz"),
    path("readyz", monitoring.readyz, name="readyz"),
    path("metrics", monitoring.metrics_view, name="metrics"),
]

# JSON under /api/, Django's pages elsewhere (berth/api_errors.py).
handler404 = "berth.api_errors.handler404"
handler500 = "berth.api_errors.handler500"
