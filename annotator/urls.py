"""URL map: the API under /api/v1/, its schema and docs, the admin, the SPA and login pages.

The schema and the docs need a sign-in unless ``ANNOTATOR["API_DOCS_PUBLIC"]``; the login pages
slow down repeated failures (``web.sign_in``).
"""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import BasePermission

from annotator.health import healthz
from annotator.web import views as web
from annotator.web.sign_in import guarded_login


class DocsAccess(BasePermission):
    """The schema for signed-in users (session or token), or for anyone when the settings make it public."""

    def has_permission(self, request, view) -> bool:  # noqa: ANN001
        return bool(settings.ANNOTATOR["API_DOCS_PUBLIC"] or request.user.is_authenticated)


def _docs_page(request, *args, **kwargs):
    """The Swagger page: a browser that is not signed in goes to the login page first."""
    if not (settings.ANNOTATOR["API_DOCS_PUBLIC"] or request.user.is_authenticated):
        return redirect_to_login(request.get_full_path())
    return _swagger(request, *args, **kwargs)


_swagger = SpectacularSwaggerView.as_view(url_name="schema", permission_classes=[DocsAccess])

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include("annotator.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[DocsAccess]), name="schema"),
    path("api/docs/", _docs_page, name="api-docs"),
    path("admin/login/", guarded_login(admin.site.login), name="admin-login"),
    path("admin/", admin.site.urls),
    path(
        "accounts/login/",
        guarded_login(auth_views.LoginView.as_view(template_name="web/login.html")),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", web.home, name="home"),
    re_path(r"^app/.*$", web.spa, name="spa"),
]
