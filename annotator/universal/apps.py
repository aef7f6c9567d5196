from django.apps import AppConfig


class UniversalConfig(AppConfig):
    name = "annotator.universal"
    label = "universal"
    verbose_name = "Universal base model"

    def ready(self) -> None:
        from django.conf import settings

        from annotator.jobs.schedule import periodic_task_register

        periodic_task_register(
            key="base-retraining",
            name="universal: retrain the base once enough contributed data arrived",
            task="annotator.universal.tasks.check_base_retraining",
            default_seconds=lambda: settings.ANNOTATOR["UNIVERSAL_SCHEDULE_SECONDS"],
            description="Starts a base run when UNIVERSAL_NEW_IMAGES_THRESHOLD contributed images were "
            "accepted since the last base run.",
        )
