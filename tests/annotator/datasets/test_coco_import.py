"""COCO import: round trip, the report and plan, all or nothing, both modes, and a corpus of broken files."""

import io
import json
import zipfile

import pytest
from shapely.geometry import MultiPolygon, Polygon

from annotator.annotations.models import Annotation, Revision
from annotator.datasets.models import ImportJob
from annotator.learning.models import Prediction
from annotator.projects.models import Category, Image
from ml import geometry
from tests.factories import make_project, zip_bytes

from .coco_helpers import (
    HOLED,
    TRIANGLE,
    add_image,
    categories,
    post_import,
    run_export,
    sample_project_data,
)


def as_geometry(shape) -> MultiPolygon:
    return MultiPolygon([Polygon(poly[0], poly[1:]) for poly in shape])


def export_zip_bytes(job) -> bytes:
    with job.file.open("rb") as fp:
        return fp.read()


def split_export(data: bytes) -> tuple[dict, bytes]:
    """An export zip as (COCO dict, a zip of just the images), the way a user would upload them."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        coco = json.loads(zf.read("annotations.json"))
        images = {n: zf.read(n) for n in zf.namelist() if n.startswith("images/")}
    return coco, zip_bytes(images)


def snapshot(project):
    """What a user sees: per image (size, pixels) its set as (category name, shape), and the categories."""
    out = {}
    for image in Image.objects.filter(project=project, status="accepted"):
        out[(image.sha256, image.width, image.height)] = sorted(
            ((a.category.name, a.shape) for a in image.annotations.select_related("category")),
            key=lambda t: (t[0], geometry.shape_bbox(t[1])),
        )
    return out, sorted(Category.objects.filter(project=project).values_list("name", "export_id"))


@pytest.mark.django_db
def test_coco_round_trip_into_a_fresh_project_keeps_images_categories_shapes_and_holes(
    project, users, client_for
):
    admin = users["admin"]
    sample_project_data(project, admin)
    coco, images_zip = split_export(export_zip_bytes(run_export(project, admin)))

    target = make_project(admin=admin, name="Warehouse B")
    response = post_import(client_for("admin"), target, coco, images=images_zip)
    assert response.status_code == 201, response.json()
    job = response.json()
    assert [p for p in job["report"]["problems"] if p["severity"] in ("error", "fatal")] == []
    assert job["report"]["plan"]["images"] == 3 and job["report"]["plan"]["annotations"] == 5
    assert Image.objects.filter(project=target).count() == 0  # nothing before acceptance

    accepted = client_for("admin").post(f"/api/v1/imports/{job['id']}/accept")
    assert accepted.status_code == 200, accepted.json()
    assert accepted.json()["status"] == "succeeded"

    (before, cats_before), (after, cats_after) = snapshot(project), snapshot(target)
    assert cats_after == cats_before
    assert before.keys() == after.keys()
    for key, original in before.items():
        imported = after[key]
        assert [name for name, _ in imported] == [name for name, _ in original]
        for (_, a), (_, b) in zip(original, imported, strict=True):
            assert as_geometry(a).hausdorff_distance(as_geometry(b)) <= 0.5
            assert geometry.shape_has_holes(a) == geometry.shape_has_holes(b)
    holed = Annotation.objects.get(
        image__project=target, category__name="cardboard_box", area=geometry.shape_area(HOLED)
    )
    assert len(holed.shape[0]) == 2  # exterior and the hole
    image = holed.image
    assert image.status == "accepted" and image.revisions.filter(action=Revision.Action.IMPORT).exists()
    assert Image.objects.filter(project=target, name="images/scene_2.png").exists()


@pytest.mark.django_db
def test_coco_round_trip_of_rle_export_matches_masks(project, users, client_for):
    admin = users["admin"]
    sample_project_data(project, admin)
    coco, images_zip = split_export(export_zip_bytes(run_export(project, admin, segmentation="rle")))
    target = make_project(admin=admin, name="Warehouse B")
    job = post_import(client_for("admin"), target, coco, images=images_zip).json()
    assert client_for("admin").post(f"/api/v1/imports/{job['id']}/accept").status_code == 200
    (before, _), (after, _) = snapshot(project), snapshot(target)
    for key, original in before.items():
        for (_, a), (_, b) in zip(original, after[key], strict=True):
            h, w = key[2], key[1]
            assert geometry.mask_iou(geometry.shape_to_mask(a, h, w), geometry.shape_to_mask(b, h, w)) >= 0.99
            assert geometry.shape_has_holes(a) == geometry.shape_has_holes(b)


@pytest.mark.django_db
def test_coco_import_by_file_name_into_existing_images_as_ground_truth(project, users, client_for):
    admin = users["admin"]
    cats = categories(project)
    image = add_image(project, admin, seed=7, name="upload.zip/dock/cam_07.png")
    coco = {
        "images": [{"id": 70, "file_name": "cam_07.png", "width": 64, "height": 48}],
        "categories": [{"id": 3, "name": "Cardboard_Box"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 70,
                "category_id": 3,
                "segmentation": [[4, 4, 40, 4, 40, 36, 4, 36]],
                "bbox": [4, 4, 36, 32],
                "area": 1,
                "iscrowd": 0,
            }
        ],
    }
    job = post_import(client_for("admin"), project, coco).json()
    assert job["report"]["category_mapping_preview"] == [
        {
            "coco_id": 3,
            "name": "Cardboard_Box",
            "action": "map",
            "category_id": cats["cardboard_box"].id,
            "category_name": "cardboard_box",
            "export_id": cats["cardboard_box"].export_id,
            "annotations": 1,
        }
    ]
    assert client_for("admin").post(f"/api/v1/imports/{job['id']}/accept").status_code == 200
    image.refresh_from_db()
    assert image.status == "accepted" and image.version == 1
    ann = image.annotations.get()
    assert ann.category == cats["cardboard_box"] and ann.area == 36 * 32
    assert image.revisions.get().action == "import"


@pytest.mark.django_db
def test_coco_import_as_predictions_stores_prediction_rows_and_pre_labels(project, users, client_for):
    admin = users["admin"]
    cats = categories(project)
    image = add_image(project, admin, seed=8)
    coco = {
        "images": [{"id": 1, "file_name": image.name, "width": 64, "height": 48}],
        "categories": [{"id": 1, "name": "envelope"}],
        "annotations": [
            {
                "id": 5,
                "image_id": 1,
                "category_id": 1,
                "score": 0.75,
                "segmentation": geometry.shape_to_coco_polygons(TRIANGLE),
            }
        ],
    }
    job = post_import(client_for("admin"), project, coco, mode="predictions").json()
    assert job["options"]["mode"] == "predictions"
    assert client_for("admin").post(f"/api/v1/imports/{job['id']}/accept").status_code == 200
    prediction = Prediction.objects.get(image=image)
    assert (
        prediction.instances[0]["category"] == cats["envelope"].id
        and prediction.instances[0]["score"] == 0.75
    )
    image.refresh_from_db()
    assert image.status == "pre_labeled" and image.annotations.get().source == "model"


@pytest.mark.django_db
def test_coco_import_report_names_every_problem_and_writes_nothing_until_accepted(project, users, client_for):
    admin = users["admin"]
    image = add_image(project, admin, seed=9)
    good = [[4, 4, 20, 4, 20, 20, 4, 20]]
    coco = {
        "images": [
            {"id": 1, "file_name": image.name, "width": 64, "height": 48},
            {"id": 2, "file_name": "nowhere.png", "width": 64, "height": 48},
        ],
        "categories": [{"id": 1, "name": "item"}, {"id": 2, "name": "forklift"}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "segmentation": good},
            {"id": 11, "image_id": 2, "category_id": 1, "segmentation": good},  # unknown image
            {"id": 12, "image_id": 1, "category_id": 1, "segmentation": [[1, 2, 3]]},  # bad polygon
            {"id": 13, "image_id": 1, "category_id": 2, "segmentation": good},  # missing category
            {"id": 10, "image_id": 1, "category_id": 1, "segmentation": good},  # duplicate id
            {
                "id": 14,
                "image_id": 1,
                "category_id": 1,
                "segmentation": [[100, 100, 120, 100, 120, 120]],
            },  # out of bounds
            {
                "id": 15,
                "image_id": 1,
                "category_id": 1,
                "segmentation": [[50, 30, 90, 30, 90, 60, 50, 60]],
            },  # clipped
            {
                "id": 16,
                "image_id": 1,
                "category_id": 1,
                "segmentation": [[0, 0, 20, 20, 20, 0, 0, 20]],
            },  # bow tie: repaired
            {"id": 17, "image_id": 1, "category_id": 99, "segmentation": good},  # undeclared category
        ],
    }
    response = post_import(client_for("admin"), project, coco)
    assert response.status_code == 201
    report = response.json()["report"]
    errors = {(p["annotation_id"], p["code"]) for p in report["problems"] if p["severity"] == "error"}
    assert (None, "unknown_image") in errors  # the image entry itself, named by its image id
    errors.discard((None, "unknown_image"))
    assert errors == {
        (11, "unknown_image"),
        (12, "bad_polygon"),
        (13, "missing_category"),
        (10, "duplicate_id"),
        (14, "out_of_bounds"),
        (17, "missing_category"),
    }
    warnings = {(p["annotation_id"], p["code"]) for p in report["problems"] if p["severity"] == "warning"}
    assert {(15, "out_of_bounds"), (16, "bad_polygon")} <= warnings
    assert report["plan"]["annotations"] == 3 and report["plan"]["annotations_skipped"] == 6
    assert Annotation.objects.count() == 0 and Revision.objects.count() == 0

    assert client_for("admin").post(f"/api/v1/imports/{response.json()['id']}/accept").status_code == 200
    image.refresh_from_db()
    assert image.annotations.count() == 3 and image.status == "accepted"
    clipped = max(image.annotations.all(), key=lambda a: a.bbox[0])
    assert geometry.shape_within_image(clipped.shape, width=64, height=48) and clipped.bbox == [
        50,
        30,
        14,
        18,
    ]


@pytest.mark.django_db
def test_coco_import_accept_is_refused_twice_and_when_the_project_changed(project, users, client_for):
    admin = users["admin"]
    first = add_image(project, admin, seed=20)
    second = add_image(project, admin, seed=21)
    coco = {
        "images": [
            {"id": i, "file_name": img.name, "width": 64, "height": 48}
            for i, img in ((1, first), (2, second))
        ],
        "categories": [{"id": 1, "name": "item"}],
        "annotations": [
            {"id": i, "image_id": i, "category_id": 1, "segmentation": [[1, 1, 9, 1, 9, 9]]} for i in (1, 2)
        ],
    }
    stale = post_import(client_for("admin"), project, coco).json()
    fresh = post_import(client_for("admin"), project, coco).json()
    second.delete()

    refused = client_for("admin").post(f"/api/v1/imports/{stale['id']}/accept")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "plan_changed"
    assert Annotation.objects.count() == 0 and Image.objects.get(pk=first.pk).status == "new"
    refreshed = client_for("admin").get(f"/api/v1/imports/{stale['id']}").json()
    assert refreshed["report"]["plan"]["images"] == 1
    assert client_for("admin").post(f"/api/v1/imports/{stale['id']}/accept").status_code == 200
    again = client_for("admin").post(f"/api/v1/imports/{stale['id']}/accept")
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_pending"
    assert client_for("admin").post(f"/api/v1/imports/{fresh['id']}/accept").status_code == 409
    assert client_for("reviewer").post(f"/api/v1/projects/{project.id}/imports", {}).status_code == 403
    assert ImportJob.objects.get(pk=stale["id"]).status == "succeeded"


@pytest.mark.django_db
def test_coco_import_with_zip_refuses_mismatched_sizes_and_broken_members(project, users, client_for):
    from tests.factories import image_bytes

    images = zip_bytes(
        {
            "ok.png": image_bytes(64, 48, seed=30, fmt="PNG"),
            "broken.png": b"not a png",
            "small.png": image_bytes(32, 32, seed=31, fmt="PNG"),
        }
    )
    coco = {
        "images": [
            {"id": 1, "file_name": "ok.png", "width": 64, "height": 48},
            {"id": 2, "file_name": "broken.png", "width": 64, "height": 48},
            {"id": 3, "file_name": "small.png", "width": 64, "height": 48},
        ],
        "categories": [{"id": 1, "name": "item"}],
        "annotations": [],
    }
    response = post_import(client_for("admin"), project, coco, images=images)
    assert response.status_code == 201
    codes = {(p["image_id"], p["code"]) for p in response.json()["report"]["problems"]}
    assert {(2, "bad_image_file"), (3, "size_mismatch")} <= codes
    assert client_for("admin").post(f"/api/v1/imports/{response.json()['id']}/accept").status_code == 200
    assert list(Image.objects.filter(project=project).values_list("name", "status")) == [
        ("ok.png", "accepted")
    ]


MALFORMED = {
    "not_json": b"{this is not json",
    "empty": b"",
    "binary": b"\xff\xfe\x00garbage",
    "a_list": b"[]",
    "a_number": b"42",
    "no_images": b'{"annotations": [], "categories": []}',
    "images_not_list": b'{"images": {"id": 1}}',
    "annotations_not_list": b'{"images": [], "annotations": "none"}',
    "deeply_nested": b"[" * 100000 + b"]" * 100000,
}

ODD_BUT_READABLE = [
    {"images": [1, "x", None, {"id": "7"}], "annotations": [None, 5, {"no": "id"}], "categories": ["cat"]},
    {
        "images": [{"id": 1, "file_name": 5, "width": -1, "height": 1.5}],
        "categories": [{"id": True, "name": ""}],
    },
    {
        "images": [{"id": 1, "file_name": "x.png", "width": 64, "height": 48}],
        "categories": [{"id": 1, "name": "item"}, {"id": 1, "name": "item again"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": "polygon"},
            {"id": 2, "image_id": 1, "category_id": 1, "segmentation": [["a", "b", "c", "d", "e", "f"]]},
            {
                "id": 3,
                "image_id": 1,
                "category_id": 1,
                "segmentation": {"size": [48, 64], "counts": "!!garbage"},
            },
            {
                "id": 4,
                "image_id": 1,
                "category_id": 1,
                "segmentation": {"size": [48, 64], "counts": [1, 2, 3]},
            },
            {"id": 5, "image_id": 1, "category_id": 1, "segmentation": {"counts": "abc"}},
            {
                "id": 6,
                "image_id": 1,
                "category_id": 1,
                "segmentation": {"size": [480, 640], "counts": [307200]},
            },
            {"id": 7, "image_id": 1, "category_id": 1, "segmentation": [[1e308, 1e308, -1e308, 0, 0, 1e308]]},
            {"id": 8, "image_id": 1, "category_id": 1, "segmentation": [], "bbox": [1, 2, "x", 4]},
            {"id": 9, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 0, 0, 0, 0]]},
            {
                "id": 10,
                "image_id": 1,
                "category_id": 1,
                "segmentation": {"size": [48, 64], "counts": [-5, 3077]},
            },
            {"id": 11, "image_id": 1, "category_id": 1, "segmentation": [], "bbox": [0, 0, 0, 0]},
            {"id": 12, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 5, 1, 5, 5]], "iscrowd": 1},
            {
                "id": 13,
                "image_id": 1,
                "category_id": 1,
                "segmentation": [[1, 1, 5, 1, 5, 5]],
                "multipolygon": "broken",
            },
        ],
    },
]


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_coco_malformed_files_are_refused_with_a_report_never_a_500(project, client_for, name):
    response = post_import(client_for("admin"), project, None, raw=MALFORMED[name])
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_coco" and error["field"] == "annotations"
    assert error["report"]["problems"][0]["severity"] == "fatal"
    assert ImportJob.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("index", range(len(ODD_BUT_READABLE)))
def test_coco_odd_files_get_a_report_listing_each_bad_entry(project, users, client_for, index):
    add_image(project, users["admin"], seed=40, name="x.png")
    response = post_import(client_for("admin"), project, ODD_BUT_READABLE[index])
    assert response.status_code == 201, response.content
    report = response.json()["report"]
    assert report["problems"]
    assert report["plan"]["annotations"] == (1 if index == 2 else 0)
    if index == 2:
        flagged = {
            p["annotation_id"] for p in report["problems"] if p["severity"] == "error" and p["annotation_id"]
        }
        assert flagged == set(range(1, 13))
        # a broken 'multipolygon' extension falls back to the segmentation, with a warning
        assert [
            (p["annotation_id"], p["code"]) for p in report["problems"] if p["severity"] == "warning"
        ] == [(13, "bad_polygon")]
        assert any(p["code"] == "duplicate_id" and p["annotation_id"] is None for p in report["problems"])
    assert client_for("admin").post(f"/api/v1/imports/{response.json()['id']}/accept").status_code == 200


@pytest.mark.django_db
def test_coco_import_rejects_bad_zip_and_bad_mode_without_writing(project, client_for):
    coco = {"images": [], "annotations": [], "categories": []}
    bad_zip = post_import(client_for("admin"), project, coco, images=b"PK\x03\x04 not really a zip")
    assert bad_zip.status_code == 400 and bad_zip.json()["error"]["field"] == "images"
    bad_mode = post_import(client_for("admin"), project, coco, mode="everything")
    assert bad_mode.status_code == 400 and bad_mode.json()["error"]["field"] == "mode"
    missing = client_for("admin").post(f"/api/v1/projects/{project.id}/imports", {}, format="multipart")
    assert missing.status_code == 400 and missing.json()["error"]["field"] == "annotations"
    assert ImportJob.objects.count() == 0
