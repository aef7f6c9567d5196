"""URL map: the API under /api/v1/, its schema and docs, the admin, the SPA and login pages."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from annotator.health import healthz
from annotator.web import views as web

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include("annotator.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(template_name="web/login.html"), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", web.home, name="home"),
    re_path(r"^app/.*$", web.spa, name="spa"),
]
