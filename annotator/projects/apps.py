from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "annotator.projects"
    verbose_name = "Projects and images"
