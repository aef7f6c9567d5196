"""Turning uploaded files (images or zips of images) into Image rows, safely.

Every refused file is reported with its name and a reason; good files in the same upload are
stored anyway. A file is either stored completely (bytes, thumbnail, row) or not at all.
Rows are inserted in batches (one transaction per ``INSERT_BATCH`` images, not one per image).
Once they are committed, ``signals.images_added`` tells the apps that process new images.
"""

from __future__ import annotations

import hashlib
import io
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, BinaryIO

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from .models import Image, Project
from .signals import images_added

ALLOWED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "BMP": "bmp", "TIFF": "tif", "MPO": "jpg"}
ARCHIVE_SUFFIXES = {".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar"}
ZIP_MAGIC = b"PK\x03\x04"
MAX_NAME_LENGTH = 255
INSERT_BATCH = 100


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


def image_split_for(*, sha256: str) -> str:
    """The split of an image with this content: val for a ``VAL_FRACTION`` share, by a hash of its sha256.

    Not upload order: the same bytes get the same split in any upload order, project or re-upload, so
    the universal base (trained on every contributing project's train split) never trains on a photo
    that a project validates on. Assigned once when the image is stored and never moved.
    """
    digest = hashlib.sha256(b"annotator-split:" + sha256.encode("ascii")).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    return Image.Split.VAL if position < settings.ANNOTATOR["VAL_FRACTION"] else Image.Split.TRAIN


@dataclass
class _Upload:
    """What one ``images_ingest`` call carries from file to file."""

    project: Project
    user: Any
    report: IngestReport = field(default_factory=IngestReport)
    stored: dict[str, int] = field(default_factory=dict)  # sha256 -> id, of the rows this upload inserted
    # Files written whose rows are not inserted yet, and the duplicates of them reported so far.
    pending: dict[str, Image] = field(default_factory=dict)  # sha256 -> image
    pending_duplicates: list[tuple[dict, str]] = field(default_factory=list)  # (report entry, sha256)


def images_ingest(*, project: Project, uploads: list[tuple[str, BinaryIO]], user=None) -> IngestReport:
    """Ingest ``(name, file object)`` pairs; zips are opened and their members ingested."""
    upload = _Upload(project=project, user=user)
    report = upload.report
    try:
        for raw_name, fileobj in uploads:
            name = display_name(raw_name)
            head = fileobj.read(4)
            fileobj.seek(0)
            if head == ZIP_MAGIC or name.lower().endswith(".zip"):
                _ingest_zip(upload, name, fileobj)
                continue
            try:
                data = _read_limited(fileobj, settings.ANNOTATOR["MAX_IMAGE_BYTES"])
                _ingest_bytes(upload, name, data)
            except FileRejected as exc:
                report.rejected.append(Rejection(name, exc.code, exc.reason))
        _insert_pending(upload)
    except Exception:
        for image in upload.pending.values():  # written, but their rows will never be inserted
            _delete_files(image)
        raise
    if report.created:
        ids = [img.id for img in report.created]
        transaction.on_commit(lambda: images_added.send(sender=Project, project=project, image_ids=ids))
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


def _ingest_zip(upload: _Upload, name: str, fileobj: BinaryIO) -> None:
    report = upload.report
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
            Rejection(
                name, "zip_too_many_members", f"{len(files)} files; the limit is {limits['MAX_ZIP_MEMBERS']}"
            )
        )
        return
    declared = sum(m.file_size for m in files)
    if declared > limits["MAX_ZIP_UNCOMPRESSED_BYTES"]:
        report.rejected.append(
            Rejection(
                name,
                "zip_too_large",
                f"unpacks to {declared} bytes; the limit is {limits['MAX_ZIP_UNCOMPRESSED_BYTES']}",
            )
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
            _ingest_bytes(upload, member_name, data)
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


def _ingest_bytes(upload: _Upload, name: str, data: bytes) -> None:
    project, report = upload.project, upload.report
    sha = hashlib.sha256(data).hexdigest()
    if sha in upload.pending:  # a repeat within this upload, of an image whose row is not inserted yet
        entry = {"file": name, "existing_id": None}
        report.duplicates.append(entry)
        upload.pending_duplicates.append((entry, sha))
        return
    existing = upload.stored.get(sha) or _existing_id(project, sha)
    if existing:
        report.duplicates.append({"file": name, "existing_id": existing})
        return
    decoded = decode_image(data)
    image = _write_files(project, name, sha, decoded, upload.user, split=image_split_for(sha256=sha))
    upload.pending[sha] = image
    if len(upload.pending) >= INSERT_BATCH:
        _insert_pending(upload)


def _existing_id(project: Project, sha: str) -> int | None:
    return Image.objects.filter(project=project, sha256=sha).values_list("id", flat=True).first()


def _insert_pending(upload: _Upload) -> None:
    """Insert the rows of the files written so far, in one transaction (row by row after a lost race)."""
    images = list(upload.pending.values())
    if not images:
        return
    try:
        with transaction.atomic():
            Image.objects.bulk_create(images)
    except IntegrityError:  # a concurrent upload stored some of the same bytes first
        for image in images:
            _insert_one(image)
    for image in images:
        if image.pk is not None:
            upload.stored[image.sha256] = image.pk
            upload.report.created.append(image)
        else:  # lost the race: the other upload's image is the one kept
            _delete_files(image)
            existing = _existing_id(upload.project, image.sha256)
            upload.report.duplicates.append({"file": image.name, "existing_id": existing})
    for entry, sha in upload.pending_duplicates:
        entry["existing_id"] = upload.stored.get(sha) or _existing_id(upload.project, sha)
    upload.pending.clear()
    upload.pending_duplicates.clear()


def _insert_one(image: Image) -> None:
    try:
        with transaction.atomic():
            image.save()
    except IntegrityError:
        image.pk = None


@dataclass
class DecodedImage:
    content: bytes  # what we store: the original bytes, or re-encoded when EXIF rotated it
    ext: str
    width: int
    height: int
    thumbnail: bytes


def decode_image(data: bytes) -> DecodedImage:
    """Verify with Pillow, apply EXIF orientation, make a thumbnail. Raises ``FileRejected``.

    Every image is decoded to its last byte, so truncated or corrupt pixel data is refused.
    Only a rotated image is decoded at full size (its pixels are re-encoded upright); the
    others keep their original bytes, and a JPEG is decoded at the smallest DCT scale
    (1/2 to 1/8) that still gives the thumbnail twice its size.
    """
    max_pixels = settings.ANNOTATOR["MAX_IMAGE_PIXELS"]
    try:
        with PILImage.open(io.BytesIO(data)) as probe:
            fmt = probe.format
            width, height = probe.size
            if fmt not in ALLOWED_FORMATS:
                raise FileRejected(
                    "unsupported_format", f"{fmt} images are not supported; use JPEG, PNG or WEBP"
                )
            if width * height > max_pixels:
                raise FileRejected(
                    "too_many_pixels",
                    f"{width}x{height} = {width * height / 1e6:.1f} MP exceeds the {max_pixels / 1e6:.0f} MP limit",
                )
            probe.verify()
        img = PILImage.open(io.BytesIO(data))
        rotated = img.getexif().get(0x0112, 1) not in (None, 1)
        if rotated:
            upright = ImageOps.exif_transpose(img)
        else:
            upright = img
            size = settings.ANNOTATOR["THUMBNAIL_SIZE"]
            img.draft(None, _thumbnail_size(width, height, 2 * size))
        upright.load()  # verify() misses truncated pixel data; decoding finds it
    except FileRejected:
        raise
    except PILImage.DecompressionBombError as exc:
        raise FileRejected("too_many_pixels", f"decompression bomb refused ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise FileRejected(
            "not_an_image", "not a readable image (the content is not an image format)"
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise FileRejected("corrupt_image", f"the image is corrupt or truncated ({exc})") from exc

    ext = ALLOWED_FORMATS[fmt]
    content = data
    if rotated:
        width, height = upright.size
        buf = io.BytesIO()
        if ext == "jpg":
            upright.convert("RGB").save(buf, "JPEG", quality=95)
        else:
            ext = "png"
            upright.save(buf, "PNG")
        content = buf.getvalue()
    return DecodedImage(content, ext, width, height, thumbnail_jpeg(upright))


def _thumbnail_size(width: int, height: int, longest: int) -> tuple[int, int]:
    scale = longest / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def thumbnail_jpeg(image: PILImage.Image) -> bytes:
    """The thumbnail (``THUMBNAIL_SIZE`` on the longer side at most) as JPEG bytes; resizes ``image`` in place."""
    if image.mode not in ("RGB", "L"):
        # Resize in RGB: palette images would be resized with nearest-neighbour otherwise.
        image = image.convert("RGB")
    size = settings.ANNOTATOR["THUMBNAIL_SIZE"]
    image.thumbnail((size, size))
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _write_files(project: Project, name: str, sha: str, decoded: DecodedImage, user, *, split: str) -> Image:
    """The image's bytes and thumbnail, written; its row is inserted later (``_insert_pending``)."""
    image = Image(
        project=project,
        name=name,
        sha256=sha,
        file_ext=decoded.ext,
        width=decoded.width,
        height=decoded.height,
        uploaded_by=user,
        split=split,
    )
    try:
        image.file.save(f"{sha}.{decoded.ext}", ContentFile(decoded.content), save=False)
        image.thumbnail.save(f"{sha}.jpg", ContentFile(decoded.thumbnail), save=False)
    except Exception:
        _delete_files(image)
        raise
    return image


def _delete_files(image: Image) -> None:
    """Delete the files written for ``image`` unless a stored row uses them (names are content-addressed)."""
    same_bytes = Image.objects.filter(project=image.project_id, sha256=image.sha256)
    for f in (image.file, image.thumbnail):
        if f and f.name and not same_bytes.filter(Q(file=f.name) | Q(thumbnail=f.name)).exists():
            f.storage.delete(f.name)
