"""The thumbnail endpoint: the small cached JPEG of an image, checked against project membership."""

from __future__ import annotations

from django.http import FileResponse, HttpResponseNotModified
from drf_spectacular.utils import extend_schema
from rest_framework.views import APIView

from .permissions import get_image
from .thumbnails import thumbnail_file


class ImageThumbnailApi(APIView):
    """Made once and stored (``thumbnails.thumbnail_file``); the ETag is the image's content hash."""

    @extend_schema(responses={(200, "image/jpeg"): bytes, 304: None})
    def get(self, request, image_id: int):
        image = get_image(request, image_id)
        etag = f'"{image.sha256}"'  # content-addressed: the same bytes always give the same thumbnail
        if request.headers.get("If-None-Match") == etag:
            response = HttpResponseNotModified()
        else:
            response = FileResponse(thumbnail_file(image).open("rb"), content_type="image/jpeg")
            response["X-Content-Type-Options"] = "nosniff"
            response["Content-Disposition"] = "inline"
        response["ETag"] = etag
        response["Cache-Control"] = "private, max-age=86400"
        return response
