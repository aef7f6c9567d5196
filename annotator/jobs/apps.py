from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "annotator.jobs"
    verbose_name = "Background jobs"
