"""Thumbnails: a small JPEG, made once and then read from disk, for members only."""

import io

import pytest
from django.core.files.base import ContentFile
from PIL import Image as PILImage

from annotator.projects import thumbnails
from annotator.projects.models import Image
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db


def stored_image(project, *, width: int, height: int) -> Image:
    """An image row whose file is a real JPEG and which has no thumbnail yet (as rows made before thumbnails)."""
    data = image_bytes(width, height, seed=width, fmt="JPEG")
    image = Image(project=project, name="big.jpg", sha256=f"{width:064d}", width=width, height=height)
    image.file.save("big.jpg", ContentFile(data), save=False)
    image.save()
    return image


def test_a_12_mp_photo_gets_a_small_jpeg_made_once_and_then_served_from_disk(
    project, client_for, monkeypatch
):
    image = stored_image(project, width=4000, height=3000)
    client = client_for("annotator")

    first = client.get(f"/api/v1/images/{image.id}/thumbnail")

    assert first.status_code == 200 and first["Content-Type"] == "image/jpeg"
    body = b"".join(first.streaming_content)
    with PILImage.open(io.BytesIO(body)) as thumb:
        assert thumb.format == "JPEG" and thumb.size == (256, 192)
    image.refresh_from_db()
    assert image.thumbnail.name.endswith(f"{image.sha256}.jpg")
    assert image.thumbnail.storage.exists(image.thumbnail.name)

    # The second request reads the stored file: decoding the photo again would fail here.
    def no_decoding(data):
        raise AssertionError("the photo was decoded again")

    monkeypatch.setattr(thumbnails, "render_thumbnail", no_decoding)
    second = client.get(f"/api/v1/images/{image.id}/thumbnail")
    assert second.status_code == 200 and b"".join(second.streaming_content) == body
    assert second["ETag"] == f'"{image.sha256}"'
    assert (
        client.get(f"/api/v1/images/{image.id}/thumbnail", HTTP_IF_NONE_MATCH=second["ETag"]).status_code
        == 304
    )


def test_a_jpeg_is_decoded_at_a_reduced_scale_for_its_thumbnail(monkeypatch):
    photo = image_bytes(4000, 3000, seed=1, fmt="JPEG")
    sizes = []
    real_load = PILImage.Image.load

    def spy(self):
        sizes.append(self.size)
        return real_load(self)

    monkeypatch.setattr(PILImage.Image, "load", spy)
    data = thumbnails.render_thumbnail(photo)
    with PILImage.open(io.BytesIO(data)) as thumb:
        assert max(thumb.size) == 256
    assert sizes and max(w for w, _ in sizes) <= 1000, sizes  # 1/4 scale at most, never 4000 px wide


def test_a_small_image_is_not_enlarged_and_outsiders_get_a_404(project, client_for):
    image = stored_image(project, width=120, height=90)
    response = client_for("annotator").get(f"/api/v1/images/{image.id}/thumbnail")
    with PILImage.open(io.BytesIO(b"".join(response.streaming_content))) as thumb:
        assert thumb.size == (120, 90)
    assert client_for("outsider").get(f"/api/v1/images/{image.id}/thumbnail").status_code == 404


def test_a_thumbnail_whose_file_was_lost_is_made_again(project, client_for, users):
    from annotator.projects.ingest import images_ingest

    report = images_ingest(
        project=project, uploads=[("dock.png", io.BytesIO(image_bytes(640, 480, seed=3, fmt="PNG")))]
    )
    image = report.created[0]
    image.refresh_from_db()
    image.thumbnail.storage.delete(image.thumbnail.name)

    response = client_for("reviewer").get(f"/api/v1/images/{image.id}/thumbnail")

    assert response.status_code == 200
    with PILImage.open(io.BytesIO(b"".join(response.streaming_content))) as thumb:
        assert thumb.size == (256, 192)
    assert image.thumbnail.storage.exists(image.thumbnail.name)
