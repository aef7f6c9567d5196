"""Uploads through the API: images and zips, duplicates, and every kind of refusal, named."""

import io
import stat
import zipfile

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from annotator.projects.ingest import image_split_for
from annotator.projects.models import Image
from tests.factories import image_bytes, make_project, zip_bytes


def upload(client, project_id: int, *files):
    return client.post(
        f"/api/v1/projects/{project_id}/images",
        {"files": [SimpleUploadedFile(name, data) for name, data in files]},
        format="multipart",
    )


@pytest.mark.django_db
def test_zip_of_twenty_with_two_broken_and_one_duplicate_reports_the_three(users, client_for):
    Group.objects.create(name="project creators").user_set.add(users["annotator"])  # may create projects
    client = client_for("annotator")
    created = client.post("/api/v1/projects", {"name": "Inbound dock"}, format="json")
    assert created.status_code == 201
    assert [c["name"] for c in created.json()["categories"]] == [
        "cardboard_box",
        "padded_mailer",
        "plastic_bag",
        "envelope",
        "item",
    ]
    assert created.json()["role"] == "admin"
    project_id = created.json()["id"]
    members = {f"scene_{i:02d}.jpg": image_bytes(seed=i) for i in range(17)}
    members["broken_truncated.jpg"] = image_bytes(seed=100)[:300]
    members["broken_not_image.png"] = b"this is plain text, not a PNG"
    members["scene_dup.jpg"] = members["scene_03.jpg"]
    assert len(members) == 20

    response = upload(client, project_id, ("batch.zip", zip_bytes(members)))

    assert response.status_code == 201, response.json()
    report = response.json()
    assert len(report["created"]) == 17
    assert {r["file"] for r in report["rejected"]} == {
        "batch.zip/broken_truncated.jpg",
        "batch.zip/broken_not_image.png",
    }
    assert {r["code"] for r in report["rejected"]} == {"corrupt_image", "not_an_image"}
    assert report["duplicates"] == [
        {"file": "batch.zip/scene_dup.jpg", "existing_id": report["created"][3]["id"]}
    ]

    listing = client.get(f"/api/v1/projects/{project_id}/images").json()
    assert listing["count"] == 17
    assert {img["name"] for img in listing["results"]} == {f"batch.zip/scene_{i:02d}.jpg" for i in range(17)}
    first = listing["results"][0]
    assert (
        first["status"] == "new" and first["version"] == 0 and first["width"] == 64 and first["height"] == 48
    )
    thumb = client.get(first["thumbnail_url"])
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"


@pytest.mark.django_db
def test_reupload_of_the_same_bytes_is_reported_not_stored_twice(project, client_for):
    client = client_for("admin")
    first = upload(client, project.id, ("a.jpg", image_bytes(seed=1)))
    again = upload(client, project.id, ("a-copy.jpg", image_bytes(seed=1)))
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["duplicates"] == [
        {"file": "a-copy.jpg", "existing_id": first.json()["created"][0]["id"]}
    ]
    assert Image.objects.count() == 1


@pytest.mark.django_db
def test_exif_orientation_is_applied(project, client_for):
    # Orientation 6 = rotate 90° clockwise to display: a 64x48 file becomes a 48x64 image.
    response = upload(client_for("admin"), project.id, ("phone.jpg", image_bytes(64, 48, exif_orientation=6)))
    image = Image.objects.get(pk=response.json()["created"][0]["id"])
    assert (image.width, image.height) == (48, 64)
    with image.file.open("rb") as fh, PILImage.open(fh) as stored:
        assert stored.size == (48, 64)


def _photo_jpeg(width: int, height: int, *, exif_orientation: int | None) -> bytes:
    """A photo-like JPEG: smooth shading, a few flat boxes with sharp edges, sensor noise."""
    import numpy as np

    rng = np.random.default_rng(11)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    pixels = np.stack(
        [xx / width * 150 + 50, yy / height * 120 + 60, (xx + yy) / (width + height) * 90 + 40], -1
    )
    for x, y, w, h in rng.integers(0, min(width, height) // 2, size=(6, 4)):
        pixels[y : y + h + 20, x : x + w + 20] = rng.integers(30, 230, size=3)
    pixels += rng.normal(0, 6, size=pixels.shape)
    img = PILImage.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    exif = PILImage.Exif()
    if exif_orientation:
        exif[0x0112] = exif_orientation
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, exif=exif.tobytes())
    return buf.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("orientation", "stored_size", "thumb_size"),
    [
        (None, (1155, 866), (256, 192)),
        (6, (866, 1155), (192, 256)),
    ],
    ids=["upright", "exif_rotated"],
)
def test_a_1mp_photo_is_stored_as_sent_with_a_faithful_thumbnail(
    project, client_for, orientation, stored_size, thumb_size
):
    import numpy as np
    from PIL import ImageOps

    data = _photo_jpeg(1155, 866, exif_orientation=orientation)
    response = upload(client_for("admin"), project.id, ("shelf.jpg", data))
    image = Image.objects.get(pk=response.json()["created"][0]["id"])

    assert (image.width, image.height) == stored_size
    with image.file.open("rb") as fh:
        stored = fh.read()
    assert (stored == data) is (orientation is None)  # only a rotated photo is re-encoded (upright)
    reference = ImageOps.exif_transpose(PILImage.open(io.BytesIO(data))).convert("RGB")
    reference.thumbnail((256, 256))  # from the full-size decode
    with image.thumbnail.open("rb") as fh, PILImage.open(fh) as thumb:
        assert thumb.size == thumb_size == reference.size
        difference = np.abs(np.asarray(thumb, np.float32) - np.asarray(reference, np.float32)).mean()
    assert difference < 3, difference  # mean, out of 255: 1.7 is the JPEG encoding of the thumbnail itself


def _bomb_png() -> bytes:
    """A tiny PNG whose header claims 10000 x 10000 pixels (100 MP)."""
    buf = io.BytesIO()
    PILImage.new("1", (10000, 10000)).save(buf, "PNG")
    return buf.getvalue()


def _zip_with_symlink() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("link.jpg")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


SINGLE_FILE_REFUSALS = [
    ("empty.jpg", b"", "empty_file"),
    ("text.jpg", b"hello, not an image at all", "not_an_image"),
    ("truncated.png", image_bytes(seed=5, fmt="PNG")[:200], "corrupt_image"),
    ("bomb.png", _bomb_png(), "too_many_pixels"),
    (
        "gif.gif",
        (lambda b: (PILImage.new("RGB", (8, 8)).save(b, "GIF"), b.getvalue())[1])(io.BytesIO()),
        "unsupported_format",
    ),
]
ZIP_REFUSALS = [
    ("slip.zip", {"../../evil.jpg": image_bytes(seed=7)}, "zip_slip"),
    ("absolute.zip", {"/abs/evil.jpg": image_bytes(seed=8)}, "absolute_path"),
    ("nested.zip", {"inner.zip": zip_bytes({"x.jpg": image_bytes(seed=9)})}, "nested_archive"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "data", "code"), SINGLE_FILE_REFUSALS, ids=[r[2] for r in SINGLE_FILE_REFUSALS]
)
def test_each_refused_file_gets_a_400_naming_it(project, client_for, name, data, code):
    response = upload(client_for("admin"), project.id, (name, data))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "upload_rejected" and error["field"] == "files"
    assert error["rejected"] == [{"file": name, "code": code, "reason": error["rejected"][0]["reason"]}]
    assert name in error["message"]
    assert Image.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "members", "code"), ZIP_REFUSALS, ids=[r[2] for r in ZIP_REFUSALS])
def test_bad_zip_members_are_refused_and_named(project, client_for, name, members, code):
    response = upload(client_for("admin"), project.id, (name, zip_bytes(members)))
    assert response.status_code == 400
    rejected = response.json()["error"]["rejected"]
    assert [r["code"] for r in rejected] == [code]
    assert rejected[0]["file"].startswith(f"{name}/")
    assert Image.objects.count() == 0


@pytest.mark.django_db
def test_symlink_member_is_refused(project, client_for):
    response = upload(client_for("admin"), project.id, ("links.zip", _zip_with_symlink()))
    assert response.status_code == 400
    assert response.json()["error"]["rejected"][0] == {
        "file": "links.zip/link.jpg",
        "code": "symlink",
        "reason": "symbolic links are not allowed in archives",
    }


@pytest.mark.django_db
def test_limits_come_from_settings(project, client_for, settings):
    settings.ANNOTATOR = {**settings.ANNOTATOR, "MAX_IMAGE_BYTES": 1000, "MAX_ZIP_MEMBERS": 2}
    big = upload(client_for("admin"), project.id, ("big.jpg", image_bytes(200, 200, seed=3)))
    assert big.json()["error"]["rejected"][0]["code"] == "file_too_large"
    many = upload(
        client_for("admin"),
        project.id,
        ("many.zip", zip_bytes({f"{i}.jpg": image_bytes(8, 8, seed=i) for i in range(3)})),
    )
    assert many.json()["error"]["rejected"] == [
        {"file": "many.zip", "code": "zip_too_many_members", "reason": "3 files; the limit is 2"}
    ]


@pytest.mark.django_db
def test_good_members_are_stored_when_others_are_refused(project, client_for):
    response = upload(
        client_for("admin"),
        project.id,
        ("mixed.zip", zip_bytes({"ok.jpg": image_bytes(seed=11), "../bad.jpg": image_bytes(seed=12)})),
    )
    assert response.status_code == 201
    body = response.json()
    assert [c["name"] for c in body["created"]] == ["mixed.zip/ok.jpg"]
    assert [r["code"] for r in body["rejected"]] == ["zip_slip"]


@pytest.mark.django_db
def test_upload_without_files_is_a_named_400(project, client_for):
    response = client_for("admin").post(f"/api/v1/projects/{project.id}/images", {}, format="multipart")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "files"


@pytest.mark.django_db
def test_the_val_split_follows_a_hash_of_the_content_not_the_upload_order(
    project, users, client_for, settings
):
    settings.ANNOTATOR = {**settings.ANNOTATOR, "VAL_FRACTION": 0.2}
    files = [(f"{i}.png", image_bytes(8, 8, seed=i, fmt="PNG")) for i in range(40)]
    first = upload(client_for("admin"), project.id, ("batch.zip", zip_bytes(dict(files))))
    created = [c["id"] for c in first.json()["created"]]
    assert len(created) == 40
    splits = [Image.objects.get(pk=pk).split for pk in created]  # in upload order
    val = [i for i, split in enumerate(splits) if split == "val"]
    assert 2 <= len(val) <= 16, val  # about a fifth of 40
    assert val != list(range(len(val)))  # not the first uploads
    assert splits[:20] != ["val"] * 20 and any(i >= 20 for i in val)
    # The split is a function of the bytes: recomputed, and in another project uploaded in reverse order.
    by_sha = dict(Image.objects.values_list("sha256", "split"))
    assert all(image_split_for(sha256=sha) == split for sha, split in by_sha.items())
    other = make_project(admin=users["admin"], name="Warehouse B")
    upload(client_for("admin"), other.id, ("reversed.zip", zip_bytes(dict(reversed(files)))))
    assert dict(other.images.values_list("sha256", "split")) == by_sha


@pytest.mark.django_db
def test_an_image_keeps_its_split_when_the_fraction_changes_later(project, client_for, settings):
    settings.ANNOTATOR = {**settings.ANNOTATOR, "VAL_FRACTION": 1.0}
    upload(client_for("admin"), project.id, ("a.png", image_bytes(8, 8, seed=1, fmt="PNG")))
    settings.ANNOTATOR = {**settings.ANNOTATOR, "VAL_FRACTION": 0.0}
    upload(client_for("admin"), project.id, ("b.png", image_bytes(8, 8, seed=2, fmt="PNG")))
    assert dict(project.images.values_list("name", "split")) == {"a.png": "val", "b.png": "train"}


@pytest.mark.django_db
def test_an_upload_that_loses_the_race_for_the_same_bytes_reports_a_duplicate_and_leaves_no_file(
    project, users
):
    from pathlib import Path

    from django.conf import settings

    from annotator.projects import ingest

    ours = ingest._Upload(project=project, user=users["admin"])
    ingest._ingest_bytes(ours, "mine.jpg", image_bytes(seed=40))  # files written, row not inserted yet
    ingest._ingest_bytes(ours, "other.jpg", image_bytes(seed=41))
    theirs = ingest.images_ingest(project=project, uploads=[("theirs.jpg", io.BytesIO(image_bytes(seed=40)))])
    ingest._insert_pending(ours)

    winner = theirs.created[0]
    assert [image.name for image in ours.report.created] == ["other.jpg"]
    assert ours.report.duplicates == [{"file": "mine.jpg", "existing_id": winner.pk}]
    assert Image.objects.count() == 2
    on_disk = sorted(
        str(p.relative_to(settings.MEDIA_ROOT)) for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()
    )
    in_rows = sorted(
        name for image in Image.objects.all() for name in (image.file.name, image.thumbnail.name)
    )
    assert on_disk == in_rows  # the loser's copies are gone; the winner's stay
