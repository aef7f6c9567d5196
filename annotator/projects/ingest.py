"""Turning uploaded files (images or zips of images) into Image rows, safely.

Every refused file is reported with its name and a reason; good files in the same upload are
stored anyway. A file is either stored completely (bytes, thumbnail, row) or not at all.
"""

from __future__ import annotations

import hashlib
import io
import math
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import BinaryIO

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from .models import Image, Project

ALLOWED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "BMP": "bmp", "TIFF": "tif", "MPO": "jpg"}
ARCHIVE_SUFFIXES = {".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar"}
ZIP_MAGIC = b"PK\x03\x04"
MAX_NAME_LENGTH = 255


@dataclass
class Rejection:
    file: str
    code: str
    reason: str


@dataclass
class IngestReport:
    created: list[Image] = field(default_factory=list)
    duplicates: list[dict] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "created": [{"id": img.id, "name": img.name} for img in self.created],
            "duplicates": self.duplicates,
            "rejected": [{"file": r.file, "code": r.code, "reason": r.reason} for r in self.rejected],
        }


class FileRejected(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def images_ingest(*, project: Project, uploads: list[tuple[str, BinaryIO]], user=None) -> IngestReport:
    """Ingest ``(name, file object)`` pairs; zips are opened and their members ingested."""
    report = IngestReport()
    seen: dict[str, int] = {}
    for raw_name, fileobj in uploads:
        name = display_name(raw_name)
        head = fileobj.read(4)
        fileobj.seek(0)
        if head == ZIP_MAGIC or name.lower().endswith(".zip"):
            _ingest_zip(project, name, fileobj, user, report, seen)
            continue
        try:
            data = _read_limited(fileobj, settings.ANNOTATOR["MAX_IMAGE_BYTES"])
            _ingest_bytes(project, name, data, user, report, seen)
        except FileRejected as exc:
            report.rejected.append(Rejection(name, exc.code, exc.reason))
    if report.created:
        from annotator.learning.services import images_schedule_processing

        ids = [img.id for img in report.created]
        transaction.on_commit(lambda: images_schedule_processing(project=project, image_ids=ids))
    return report


def display_name(raw: str | bytes) -> str:
    """A printable, bounded version of an uploaded name (never a path we write to)."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in raw.replace("\\", "/"))
    if len(cleaned) > MAX_NAME_LENGTH:
        suffix = PurePosixPath(cleaned).suffix[:10]
        cleaned = cleaned[: MAX_NAME_LENGTH - len(suffix) - 1] + "~" + suffix
    return cleaned or "(unnamed)"


def _read_limited(fileobj: BinaryIO, limit: int) -> bytes:
    data = fileobj.read(limit + 1)
    if len(data) == 0:
        raise FileRejected("empty_file", "the file is empty (0 bytes)")
    if len(data) > limit:
        raise FileRejected("file_too_large", f"the file is larger than the {limit // (1024 * 1024)} MB limit")
    return data


def _ingest_zip(project, name, fileobj, user, report: IngestReport, seen: dict[str, int]) -> None:
    limits = settings.ANNOTATOR
    try:
        archive = zipfile.ZipFile(fileobj)
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        report.rejected.append(Rejection(name, "bad_zip", f"not a readable zip archive ({exc})"))
        return
    files = [m for m in members if not m.is_dir()]
    if len(files) > limits["MAX_ZIP_MEMBERS"]:
        report.rejected.append(
            Rejection(name, "zip_too_many_members", f"{len(files)} files; the limit is {limits['MAX_ZIP_MEMBERS']}")
        )
        return
    declared = sum(m.file_size for m in files)
    if declared > limits["MAX_ZIP_UNCOMPRESSED_BYTES"]:
        report.rejected.append(
            Rejection(name, "zip_too_large", f"unpacks to {declared} bytes; the limit is "
                                             f"{limits['MAX_ZIP_UNCOMPRESSED_BYTES']}")
        )
        return
    budget = limits["MAX_ZIP_UNCOMPRESSED_BYTES"]
    for member in files:
        member_name = f"{name}/{display_name(member.filename)}"
        try:
            _check_member(member)
            # Headers can lie about sizes (zip bombs): read with a hard cap, never trust file_size.
            with archive.open(member) as stream:
                data = _read_limited(stream, min(limits["MAX_IMAGE_BYTES"], budget))
            budget -= len(data)
            if data[:4] == ZIP_MAGIC:
                raise FileRejected("nested_archive", "archives inside archives are not opened")
            _ingest_bytes(project, member_name, data, user, report, seen)
        except FileRejected as exc:
            report.rejected.append(Rejection(member_name, exc.code, exc.reason))
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
            report.rejected.append(Rejection(member_name, "bad_zip_member", f"cannot be extracted ({exc})"))


def _check_member(member: zipfile.ZipInfo) -> None:
    path = member.filename.replace("\\", "/")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise FileRejected("absolute_path", "absolute paths are not allowed in archives")
    if ".." in PurePosixPath(path).parts:
        raise FileRejected("zip_slip", "'..' in the path would escape the archive (zip slip)")
    mode = member.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise FileRejected("symlink", "symbolic links are not allowed in archives")
    if PurePosixPath(path).suffix.lower() in ARCHIVE_SUFFIXES:
        raise FileRejected("nested_archive", "archives inside archives are not opened")


def _ingest_bytes(project, name: str, data: bytes, user, report: IngestReport, seen: dict[str, int]) -> None:
    sha = hashlib.sha256(data).hexdigest()
    existing = seen.get(sha) or Image.objects.filter(project=project, sha256=sha).values_list("id", flat=True).first()
    if existing:
        report.duplicates.append({"file": name, "existing_id": existing})
        return
    decoded = decode_image(data)
    image = _store(project, name, sha, decoded, user)
    if image is None:  # lost a race with a concurrent upload of the same bytes
        existing = Image.objects.filter(project=project, sha256=sha).values_list("id", flat=True).first()
        report.duplicates.append({"file": name, "existing_id": existing})
        return
    seen[sha] = image.id
    report.created.append(image)


@dataclass
class DecodedImage:
    content: bytes  # what we store: the original bytes, or re-encoded when EXIF rotated it
    ext: str
    width: int
    height: int
    thumbnail: bytes


def decode_image(data: bytes) -> DecodedImage:
    """Verify with Pillow, apply EXIF orientation, make a thumbnail. Raises ``FileRejected``."""
    max_pixels = settings.ANNOTATOR["MAX_IMAGE_PIXELS"]
    try:
        with PILImage.open(io.BytesIO(data)) as probe:
            fmt = probe.format
            width, height = probe.size
            if fmt not in ALLOWED_FORMATS:
                raise FileRejected("unsupported_format", f"{fmt} images are not supported; use JPEG, PNG or WEBP")
            if width * height > max_pixels:
                raise FileRejected(
                    "too_many_pixels",
                    f"{width}x{height} = {width * height / 1e6:.1f} MP exceeds the {max_pixels / 1e6:.0f} MP limit",
                )
            probe.verify()
        with PILImage.open(io.BytesIO(data)) as img:
            img.load()  # verify() misses truncated pixel data; decoding finds it
            rotated = img.getexif().get(0x0112, 1) not in (None, 1)
            upright = ImageOps.exif_transpose(img) if rotated else img.copy()
    except FileRejected:
        raise
    except PILImage.DecompressionBombError as exc:
        raise FileRejected("too_many_pixels", f"decompression bomb refused ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise FileRejected("not_an_image", "not a readable image (the content is not an image format)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise FileRejected("corrupt_image", f"the image is corrupt or truncated ({exc})") from exc

    ext = ALLOWED_FORMATS[fmt]
    content = data
    if rotated:
        buf = io.BytesIO()
        if ext == "jpg":
            upright.convert("RGB").save(buf, "JPEG", quality=95)
        else:
            ext = "png"
            upright.save(buf, "PNG")
        content = buf.getvalue()
    thumb = upright.convert("RGB")
    size = settings.ANNOTATOR["THUMBNAIL_SIZE"]
    thumb.thumbnail((size, size))
    tbuf = io.BytesIO()
    thumb.save(tbuf, "JPEG", quality=85)
    return DecodedImage(content, ext, upright.width, upright.height, tbuf.getvalue())


def _store(project: Project, name: str, sha: str, decoded: DecodedImage, user) -> Image | None:
    image = Image(
        project=project, name=name, sha256=sha, file_ext=decoded.ext,
        width=decoded.width, height=decoded.height, uploaded_by=user,
        split=_split_for_new_image(project),
    )
    try:
        with transaction.atomic():
            image.file.save(f"{sha}.{decoded.ext}", ContentFile(decoded.content), save=False)
            image.thumbnail.save(f"{sha}.jpg", ContentFile(decoded.thumbnail), save=False)
            image.save()
    except IntegrityError:
        _delete_files(image)
        return None
    except Exception:
        _delete_files(image)
        raise
    return image


def _delete_files(image: Image) -> None:
    # Content-addressed names: another row may own the same file only if it has the same sha,
    # which is exactly the duplicate case; keep the file then.
    if Image.objects.filter(project=image.project, sha256=image.sha256).exists():
        return
    for f in (image.file, image.thumbnail):
        if f and f.name:
            f.storage.delete(f.name)


def _split_for_new_image(project: Project) -> str:
    """Keep the fixed validation split at max(20 images, 10 %); assigned once, never moved."""
    total = project.images.count() + 1
    val = project.images.filter(split=Image.Split.VAL).count()
    wanted = max(20, math.ceil(0.1 * total))
    return Image.Split.VAL if val < wanted else Image.Split.TRAIN
