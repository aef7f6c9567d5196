"""COCO export and import jobs."""

from __future__ import annotations

from django.db import models

from annotator.jobs.models import Job


class ExportJob(Job):
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="export_jobs")
    options = models.JSONField(default=dict, blank=True, help_text="filters and format options")
    file = models.FileField(upload_to="exports/", blank=True, max_length=300)
    summary = models.JSONField(default=dict, blank=True)

    class Meta(Job.Meta):
        pass


class ImportJob(Job):
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="import_jobs")
    options = models.JSONField(default=dict, blank=True)
    source = models.FileField(upload_to="imports/", blank=True, max_length=300)
    images_zip = models.FileField(upload_to="imports/", blank=True, max_length=300)
    report = models.JSONField(default=dict, blank=True, help_text="problems and the plan to accept")

    class Meta(Job.Meta):
        pass
