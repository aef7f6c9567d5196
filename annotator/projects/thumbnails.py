"""An image's thumbnail, cached on disk: made at upload (``ingest``), or here once when missing.

An image stored without one (rows made before thumbnails, a lost file) gets it on its first
request: a JPEG decoded at the smallest DCT scale that still gives twice the thumbnail's size,
so a 12 MP photo costs a 1/8-scale decode once, and every later request reads the small file.
"""

from __future__ import annotations

import io

from django.conf import settings
from django.core.files.base import ContentFile
from django.db.models.fields.files import FieldFile
from PIL import Image as PILImage
from PIL import ImageOps

from annotator.errors import NotFoundError

from .ingest import thumbnail_jpeg
from .models import Image, thumbnail_upload_path


def thumbnail_file(image: Image) -> FieldFile:
    """The image's cached thumbnail, made and stored first if it has none (or its file is gone)."""
    thumb = image.thumbnail
    if thumb and thumb.name and thumb.storage.exists(thumb.name):
        return thumb
    # Content-addressed, so a thumbnail another request just made for the same bytes is the same file.
    name = thumbnail_upload_path(image, "")
    if not thumb.storage.exists(name):
        if not image.file or not image.file.storage.exists(image.file.name):
            raise NotFoundError("This image's file is missing, so it has no thumbnail")
        with image.file.open("rb") as fh:
            data = render_thumbnail(fh.read())
        name = thumb.storage.save(name, ContentFile(data))
    image.thumbnail.name = name
    Image.objects.filter(pk=image.pk).update(thumbnail=name)
    return image.thumbnail


def render_thumbnail(data: bytes) -> bytes:
    """JPEG bytes of the picture at ``THUMBNAIL_SIZE`` on its longer side at most (never enlarged)."""
    size = settings.ANNOTATOR["THUMBNAIL_SIZE"]
    try:
        with PILImage.open(io.BytesIO(data)) as img:
            img.draft("RGB", (2 * size, 2 * size))  # JPEG: decode at 1/2..1/8 scale; others ignore it
            picture = ImageOps.exif_transpose(img).convert("RGB")
    except (OSError, SyntaxError, ValueError) as exc:
        raise NotFoundError(f"This image cannot be decoded for a thumbnail ({exc})") from exc
    return thumbnail_jpeg(picture)  # the same size and quality as at upload
