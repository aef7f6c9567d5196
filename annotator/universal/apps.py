from django.apps import AppConfig


class UniversalConfig(AppConfig):
    name = "annotator.universal"
    label = "universal"
    verbose_name = "Universal base model"
