from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "annotator.web"
    verbose_name = "Web pages"

    def ready(self) -> None:
        # Counts failed sign-ins (``user_login_failed``) and clears them on success (``user_logged_in``).
        from . import sign_in  # noqa: F401
