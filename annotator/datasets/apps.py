from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "annotator.datasets"
    verbose_name = "COCO import and export"
