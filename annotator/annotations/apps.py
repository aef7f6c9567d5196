from django.apps import AppConfig


class AnnotationsConfig(AppConfig):
    name = "annotator.annotations"
    verbose_name = "Annotations and revisions"
