from django.apps import AppConfig


class PromptingConfig(AppConfig):
    name = "annotator.prompting"
    verbose_name = "Prompt segmentation (SAM)"

    def ready(self) -> None:
        from annotator.projects.signals import images_added

        from .receivers import embed_new_images

        images_added.connect(embed_new_images, dispatch_uid="prompting.embed_new_images")
