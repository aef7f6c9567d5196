"""factory_boy factories and small builders of real test data (images, zips, shapes)."""

from __future__ import annotations

import io
import zipfile

import factory
import numpy as np
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from PIL import Image as PILImage

from annotator.learning.models import ModelVersion
from annotator.projects.models import Image, Membership, Project, Role
from annotator.projects.services import project_create


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # noqa: N805
        if create:
            obj.save()


def make_project(*, admin=None, name: str = "Warehouse A", **members: str) -> Project:
    """A project with default categories; ``members`` maps role -> user (e.g. annotator=user)."""
    project = project_create(name=name, user=admin)
    for role, user in members.items():
        Membership.objects.update_or_create(project=project, user=user, defaults={"role": Role(role)})
    return project


def make_image(project: Project, n: int = 0, **fields) -> Image:
    """A 100 x 80 image row (its file a placeholder, never decoded); ``fields`` set status, scores..."""
    image = Image(project=project, name=f"img{n}.jpg", sha256=f"{n:064d}", width=100, height=80, **fields)
    image.file.save(f"img{n}.jpg", ContentFile(b"x"), save=False)
    image.save()
    return image


def image_bytes(
    width: int = 64,
    height: int = 48,
    *,
    seed: int = 0,
    fmt: str = "JPEG",
    exif_orientation: int | None = None,
    progressive: bool = False,
) -> bytes:
    """A real, decodable image whose content depends on ``seed`` (so sha256 differs per seed)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, size=(height, width, 3), dtype=np.uint8)
    img = PILImage.fromarray(pixels)
    buf = io.BytesIO()
    options = {"progressive": True} if progressive else {}
    if exif_orientation:
        exif = PILImage.Exif()
        exif[0x0112] = exif_orientation
        options["exif"] = exif.tobytes()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def square_shape(x: float, y: float, size: float) -> list:
    return [[[[x, y], [x + size, y], [x + size, y + size], [x, y + size]]]]


def make_active_version(project: Project, *, name: str = "warehouse-a-v1") -> ModelVersion:
    """A promoted model version, active on ``project``, with a calibrated default threshold of 0.5
    (the trust gate's starting point); its checkpoint is never loaded."""
    version = ModelVersion.objects.create(
        project=project,
        name=name,
        checkpoint="unused.pt",
        prelabel_threshold=0.5,
        status=ModelVersion.Status.PROMOTED,
    )
    project.active_model = version
    project.save(update_fields=["active_model"])
    return version
