from django.apps import AppConfig


class LearningConfig(AppConfig):
    name = "annotator.learning"
    verbose_name = "Models, predictions and training"

    def ready(self) -> None:
        from annotator.annotations.signals import image_reviewed
        from annotator.jobs.schedule import periodic_task_register
        from annotator.jobs.signals import stale_jobs_reaped
        from annotator.projects.signals import images_added

        from . import receivers

        images_added.connect(receivers.pre_label_new_images, dispatch_uid="learning.pre_label_new_images")
        stale_jobs_reaped.connect(
            receivers.fail_versions_of_reaped_runs, dispatch_uid="learning.fail_versions_of_reaped_runs"
        )
        image_reviewed.connect(receivers.relearn_trust_gate, dispatch_uid="learning.relearn_trust_gate")
        periodic_task_register(
            key="retraining",
            name="learning: start training runs where enough images were accepted",  # as migration 0004 made it
            task="annotator.learning.tasks.check_retraining",
            default_seconds=lambda: 10 * 60,
            description="Starts a training run in every project with at least "
            "retrain_threshold images accepted since its last run.",
        )
