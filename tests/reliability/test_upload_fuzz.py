"""Upload fuzz corpus, generated here: every hostile or broken file gets a clear 4xx and leaves
nothing behind (no Image row, no file under MEDIA_ROOT). Inside a zip that also holds good images,
each bad member is refused by name and only the good ones are stored."""

from __future__ import annotations

import io
import stat
import struct
import zipfile
from pathlib import Path

import pytest
from django.conf import settings

from annotator.projects.models import Image
from tests.factories import image_bytes, zip_bytes

JPEG = image_bytes(320, 240, seed=1)
PNG = image_bytes(320, 240, seed=2, fmt="PNG")
# 1 MP: large enough that ingest decodes it at a reduced DCT scale for the thumbnail.
JPEG_1MP = image_bytes(1155, 866, seed=3)
JPEG_1MP_PROGRESSIVE = image_bytes(1155, 866, seed=4, progressive=True)


# --------------------------------------------------------------------------- corpus builders


def decompression_bomb_png() -> bytes:
    """A ~12 kB PNG whose header declares 10000 x 10000 = 100 MP."""
    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.new("1", (10000, 10000)).save(buf, "PNG", optimize=True)
    assert len(buf.getvalue()) < 100_000
    return buf.getvalue()


def zip_bomb(megabytes: int = 120) -> bytes:
    """One member that inflates to ``megabytes`` MB of zeros from a few hundred kB."""
    buf = io.BytesIO()
    with (
        zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf,
        zf.open("huge.jpg", "w") as fh,
    ):
        chunk = bytes(1024 * 1024)
        for _ in range(megabytes):
            fh.write(chunk)
    return buf.getvalue()


def zip_with_lying_size(member: str = "liar.jpg", actual_mb: int = 64, declared: int = 1000) -> bytes:
    """A member whose local and central headers declare ``declared`` bytes; it inflates to far more."""
    data = bytearray(zip_bomb(actual_mb).replace(b"huge.jpg", member.encode()[:8].ljust(8, b"_")))
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, local + 22, declared)  # local header: uncompressed size
    struct.pack_into("<I", data, central + 24, declared)  # central directory: uncompressed size
    return bytes(data)


def zip_with_symlink() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("photo.jpg")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


def zip_with_raw_name(raw_name: bytes, data: bytes) -> bytes:
    """A member whose name bytes are not UTF-8 (the UTF-8 flag is off, so readers see cp437)."""
    buf = io.BytesIO()
    placeholder = b"X" * len(raw_name)
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(placeholder.decode(), data)
    return buf.getvalue().replace(placeholder, raw_name)


def multipart(files: list[tuple[bytes, bytes]]) -> tuple[bytes, str]:
    """A hand-built multipart body, so file names can be any bytes (Django's client insists on str)."""
    boundary = b"----fuzzboundary7MA4YWxkTrZu0gW"
    parts = []
    for name, data in files:
        parts.append(
            b"--"
            + boundary
            + b'\r\nContent-Disposition: form-data; name="files"; filename="'
            + name
            + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
            + data
            + b"\r\n"
        )
    body = b"".join(parts) + b"--" + boundary + b"--\r\n"
    return body, f"multipart/form-data; boundary={boundary.decode()}"


# --------------------------------------------------------------------------- helpers


def post_files(client, project, files: list[tuple[bytes | str, bytes]]):
    encoded = [(n.encode() if isinstance(n, str) else n, d) for n, d in files]
    body, content_type = multipart(encoded)
    return client.post(f"/api/v1/projects/{project.id}/images", data=body, content_type=content_type)


def stored_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def assert_refused(response, *, code: str | None = None, error_code: str = "upload_rejected") -> list[dict]:
    assert response.status_code == 400, (response.status_code, response.content[:500])
    error = response.json()["error"]
    assert error["code"] == error_code, error
    assert error["message"], error
    assert Image.objects.count() == 0
    assert stored_files() == []
    rejected = error.get("rejected") or []
    for item in rejected:
        assert item["file"] and item["reason"] and item["file"].isprintable(), item
        assert len(item["file"]) <= 512, len(item["file"])
    if code is not None:
        assert code in {r["code"] for r in rejected}, rejected
    return rejected


LONG = "a" * 900  # under Django's 1 kB multipart header limit: reaches our code, which shortens it

SINGLE_FILES = [
    ("truncated_jpeg", "cut.jpg", JPEG[: len(JPEG) // 2], "corrupt_image"),
    ("truncated_jpeg_header_only", "head.jpg", JPEG[:40], None),
    ("truncated_png", "cut.png", PNG[: len(PNG) // 2], "corrupt_image"),
    ("truncated_1mp_jpeg", "cut-1mp.jpg", JPEG_1MP[: len(JPEG_1MP) * 3 // 4], "corrupt_image"),
    ("truncated_1mp_jpeg_last_bytes", "end-1mp.jpg", JPEG_1MP[:-64], "corrupt_image"),
    ("truncated_1mp_progressive_jpeg", "prog-1mp.jpg", JPEG_1MP_PROGRESSIVE[:-64], "corrupt_image"),
    ("text_as_jpeg", "notes.jpg", b"name,width\nbox,12\n" * 20, "not_an_image"),
    ("html_as_png", "page.png", b"<html><script>alert(1)</script></html>", "not_an_image"),
    ("elf_as_jpeg", "tool.jpeg", b"\x7fELF\x02\x01\x01" + bytes(200), "not_an_image"),
    ("decompression_bomb_100mp", "bomb.png", decompression_bomb_png(), "too_many_pixels"),
    ("zero_bytes", "empty.jpg", b"", "empty_file"),
    ("very_long_name", LONG + ".jpg", b"garbage" * 10, "not_an_image"),
    ("unicode_name", "\U0001f4e6 caja-\u00f1-\u202etxt.jpg", b"garbage" * 10, "not_an_image"),
    ("control_chars_name", "evil\x1b[31m\r\n.jpg", b"garbage" * 10, "not_an_image"),
    ("path_in_name", "../../etc/cron.d/x.jpg", b"garbage" * 10, "not_an_image"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "data", "code"), [c[1:] for c in SINGLE_FILES], ids=[c[0] for c in SINGLE_FILES]
)
def test_a_bad_single_file_is_refused_and_nothing_is_stored(project, client_for, name, data, code):
    response = post_files(client_for("admin"), project, [(name, data)])
    rejected = assert_refused(response, code=code)
    assert len(rejected) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "error_code", "message"),
    [
        # Django drops a part whose filename is not UTF-8: the request carries no file.
        (b"caf\xe9-\xff\xfe.jpg", "invalid", "Attach one or more images or zip files in the 'files' field"),
        # and refuses multipart headers over 1 kB.
        (
            b"x" * 5000 + b".jpg",
            "parse_error",
            "Multipart form parse error - Request max total header size exceeded.",
        ),
    ],
    ids=["non_utf8", "over_header_limit"],
)
def test_a_name_the_multipart_parser_cannot_take_is_a_400(project, client_for, name, error_code, message):
    response = post_files(client_for("admin"), project, [(name, JPEG)])
    assert assert_refused(response, error_code=error_code) == []  # and nothing is stored
    assert response.json()["error"]["message"] == message


ZIPS = [
    ("zip_slip", lambda: zip_bytes({"../../../tmp/evil.jpg": JPEG}), "zip_slip"),
    ("zip_slip_backslash", lambda: zip_bytes({"..\\..\\evil.jpg": JPEG}), "zip_slip"),
    ("zip_absolute", lambda: zip_bytes({"/etc/evil.jpg": JPEG}), "absolute_path"),
    ("zip_bomb_member", lambda: zip_bomb(120), "file_too_large"),
    ("zip_lying_header_size", lambda: zip_with_lying_size(), "bad_zip_member"),
    ("nested_zip_by_name", lambda: zip_bytes({"inner.zip": zip_bytes({"x.jpg": JPEG})}), "nested_archive"),
    ("nested_zip_by_magic", lambda: zip_bytes({"inner.jpg": zip_bytes({"x.jpg": JPEG})}), "nested_archive"),
    ("symlink_member", zip_with_symlink, "symlink"),
    (
        "non_utf8_member_name",
        lambda: zip_with_raw_name(b"\xff\xfe\x81bad.jpg", b"not an image"),
        "not_an_image",
    ),
    ("very_long_member_name", lambda: zip_bytes({"d/" * 2000 + "x.jpg": b"not an image"}), "not_an_image"),
    ("zero_byte_member", lambda: zip_bytes({"empty.jpg": b""}), "empty_file"),
    ("truncated_member", lambda: zip_bytes({"cut.jpg": JPEG[:300]}), "corrupt_image"),
    ("zero_byte_zip", lambda: b"", "bad_zip"),
    ("truncated_zip", lambda: zip_bytes({"a.jpg": JPEG, "b.jpg": PNG})[:200], "bad_zip"),
    ("garbage_zip", lambda: b"PK\x03\x04" + b"\x00" * 100, "bad_zip"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("make", "code"), [c[1:] for c in ZIPS], ids=[c[0] for c in ZIPS])
def test_a_bad_zip_is_refused_and_nothing_is_stored(project, client_for, make, code):
    response = post_files(client_for("admin"), project, [("upload.zip", make())])
    rejected = assert_refused(response, code=code)
    assert all(r["file"].startswith("upload.zip") for r in rejected), rejected


@pytest.mark.django_db
def test_declared_uncompressed_size_over_the_limit_refuses_the_whole_zip(project, client_for, settings):
    settings.ANNOTATOR = {**settings.ANNOTATOR, "MAX_ZIP_UNCOMPRESSED_BYTES": 10 * 1024 * 1024}
    response = post_files(client_for("admin"), project, [("bomb.zip", zip_bomb(20))])
    assert assert_refused(response, code="zip_too_large")[0]["file"] == "bomb.zip"


@pytest.mark.django_db
def test_good_members_are_stored_and_every_bad_one_is_named(project, client_for):
    members = {
        "good/first.jpg": JPEG,
        "good/second.png": PNG,
        "../slip.jpg": image_bytes(seed=30),
        "inner.zip": zip_bytes({"x.jpg": image_bytes(seed=31)}),
        "empty.jpg": b"",
        "cut.jpg": JPEG[:500],
        "text.png": b"plain text",
        "bomb.png": decompression_bomb_png(),
        "n" * 3000 + ".jpg": b"junk",
    }
    response = post_files(client_for("admin"), project, [("mixed.zip", zip_bytes(members))])

    assert response.status_code == 201, response.content[:500]
    body = response.json()
    assert sorted(c["name"] for c in body["created"]) == [
        "mixed.zip/good/first.jpg",
        "mixed.zip/good/second.png",
    ]
    codes = {r["file"][:40]: r["code"] for r in body["rejected"]}
    assert codes == {
        "mixed.zip/../slip.jpg": "zip_slip",
        "mixed.zip/inner.zip": "nested_archive",
        "mixed.zip/empty.jpg": "empty_file",
        "mixed.zip/cut.jpg": "corrupt_image",
        "mixed.zip/text.png": "not_an_image",
        "mixed.zip/bomb.png": "too_many_pixels",
        "mixed.zip/" + "n" * 30: "not_an_image",
    }
    assert Image.objects.count() == 2
    # Exactly the two images and their two thumbnails are on disk: nothing from the refused members.
    on_disk = stored_files()
    shas = set(Image.objects.values_list("sha256", flat=True))
    assert len(on_disk) == 4 and {p.name.split(".")[0] for p in on_disk} == shas


@pytest.mark.django_db
def test_a_good_image_with_a_non_utf8_name_is_stored_under_a_printable_name(project, client_for):
    response = post_files(
        client_for("admin"), project, [("photos.zip", zip_with_raw_name(b"caf\xe9\xff.jpg", JPEG))]
    )
    assert response.status_code == 201, response.content[:500]
    name = Image.objects.get().name
    assert name.startswith("photos.zip/caf") and name.isprintable()


@pytest.mark.django_db
def test_many_bad_files_in_one_request_are_all_named(project, client_for):
    files = [(f"bad_{i}.jpg", JPEG[: 100 + i]) for i in range(30)]
    rejected = assert_refused(post_files(client_for("admin"), project, files))
    assert sorted(r["file"] for r in rejected) == sorted(n for n, _ in files)
