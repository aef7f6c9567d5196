"""Box figures of the universal model on box-labelled COCO files: known answers, the CLI on the shipped model."""

from __future__ import annotations

import json

import pytest
import torch

from ml.synth import write_dataset
from ml.universal.box_eval import box_metrics, evaluate_coco, predict_boxes
from ml.universal.calibration import calibrated_score
from ml.universal.coco_eval import ImageBoxes, box_figures, box_matches, match_boxes
from ml.universal.evaluate import DEFAULT_CHECKPOINT, evaluate_synthetic, main
from ml.universal.predictor import UniversalPredictor
from tests.ml.real_like import boxes_only


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    torch.set_num_threads(1)


# One image, two labelled boxes: the best prediction is the first box exactly, the second is on
# nothing, the third overlaps the second box at IoU 360 / 440 but scores below the threshold.
HIT, FALSE, LOW = [10, 10, 20, 20], [100, 100, 10, 10], [50, 50, 20, 20]
LABELS = [[10, 10, 20, 20], [52, 50, 20, 20]]


def test_box_figures_of_a_hit_a_false_shape_and_a_missed_box():
    figures = box_figures(
        [ImageBoxes(1, boxes=[HIT, FALSE], scores=[0.9, 0.8], gt_boxes=LABELS)], threshold=0.5
    )
    # COCO's 101-point precision: 1 up to recall 0.5 (51 points), none beyond.
    assert figures["box_ap50"] == figures["box_ap"] == round(51 / 101, 4)
    assert figures["recall50"] == 0.5
    assert figures["false_shapes_per_image"] == 1.0 and figures["shapes_per_image"] == 2.0
    assert figures["images"] == 1 and figures["gt_boxes"] == 2


def test_box_ap_counts_every_score_but_recall_and_false_shapes_only_those_at_the_threshold():
    image = ImageBoxes(1, boxes=[HIT, FALSE, LOW], scores=[0.9, 0.8, 0.1], gt_boxes=LABELS)
    empty = ImageBoxes(2, boxes=[], scores=[], gt_boxes=[])
    figures = box_figures([image, empty], threshold=0.5)
    assert figures["box_ap50"] == round(
        (51 + 50 * 2 / 3) / 101, 4
    )  # the low one finds the second box: 2 of 3
    assert figures["recall50"] == 0.5  # ... but below the threshold it finds nothing
    assert figures["false_shapes_per_image"] == 0.5 and figures["shapes_per_image"] == 1.0  # two images
    everything = box_figures([image, empty], threshold=0.0)
    assert everything["recall50"] == 1.0 and everything["shapes_per_image"] == 1.5
    assert everything["box_ap50"] == figures["box_ap50"]


def test_matching_is_greedy_by_score_and_one_to_one():
    # Both predictions overlap the one label; the higher score takes it, whatever the order given.
    assert match_boxes([[0, 0, 10, 10], [1, 0, 10, 10]], [0.2, 0.7], [[0, 0, 10, 10]]) == [False, True]
    # The first prediction takes the label it overlaps most, leaving the other one to the second.
    assert match_boxes([[0, 0, 10, 10], [0, 0, 10, 10]], [0.9, 0.8], [[0, 0, 10, 20], [0, 0, 10, 12]]) == [
        True,
        True,
    ]
    assert match_boxes([[0, 0, 10, 10]], [0.9], [[0, 0, 10, 20]]) == [True]  # IoU 0.5 exactly counts
    assert match_boxes([[0, 0, 10, 10]], [0.9], [[0, 0, 10, 21]]) == [False]
    assert match_boxes([], [], [[0, 0, 10, 10]]) == [] and match_boxes([[0, 0, 1, 1]], [0.5], []) == [False]


def test_box_matches_hands_calibration_the_raw_score_score_and_outcome_of_each_prediction():
    image = ImageBoxes(
        7, boxes=[HIT, FALSE, LOW], scores=[0.95, 0.6, 0.2], raw_scores=[0.7, 0.4, 0.1], gt_boxes=LABELS
    )
    rows = box_matches([image, ImageBoxes(8, boxes=[HIT], scores=[0.5], gt_boxes=[])])
    assert [(r.image_id, r.raw_score, r.score, r.matched) for r in rows] == [
        (7, 0.7, 0.95, True),
        (7, 0.4, 0.6, False),
        (7, 0.1, 0.2, True),
        (8, 0.5, 0.5, False),
    ]


def test_class_agnostic_box_ap_ignores_the_names_and_recall_always_does():
    image = ImageBoxes(
        1, boxes=[HIT], scores=[0.9], gt_boxes=[HIT], categories=["item"], gt_categories=["cardboard_box"]
    )
    assert box_figures([image], 0.5, class_agnostic=True)["box_ap50"] == 1.0
    named = box_figures([image], 0.5, class_agnostic=False)
    assert named["box_ap50"] == 0.0 and named["recall50"] == 1.0 and named["false_shapes_per_image"] == 0.0


@pytest.fixture(scope="module")
def tiny_sets(tmp_path_factory):
    """Two small synthetic scenes as a COCO file with masks, the same boxes-only (no segmentation,
    one category, like the real set), and a source map calling the first a capture."""
    root = tmp_path_factory.mktemp("tiny")
    masked = write_dataset(root, "pallet_stack", 2, seed=4321, size=(192, 224))
    data = json.loads(masked.read_text())
    boxes = boxes_only(data)
    (root / "boxes.json").write_text(json.dumps(boxes))
    names = [img["file_name"] for img in data["images"]]
    (root / "source_map.csv").write_text(
        f"file_name,series,kept\n{names[0]},video IMG_1_mp4,True\n{names[1]},,True\n"
    )
    return root


def test_cli_scores_the_shipped_model_on_a_boxes_only_file_per_subset(tiny_sets, capsys):
    main(["--coco", str(tiny_sets / "boxes.json"), "--json", "--class-agnostic", "--subset", "all"])
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 2 and report["gt_boxes"] > 2 and report["subset"] == "all"
    assert "mask_ap" not in report and report["mask_figures"].startswith("skipped")
    assert 0 <= report["box_ap"] <= report["box_ap50"] <= 1
    assert report["box_ap50"] > 0.5  # synthetic pallets: the scenes the shipped model learned on
    assert 0.5 < report["recall50"] <= 1
    assert 0 <= report["false_shapes_per_image"] <= report["shapes_per_image"]
    subsets = report["subsets"]
    assert (
        set(subsets) == {"captures", "web"} and subsets["captures"]["images"] == subsets["web"]["images"] == 1
    )
    assert subsets["captures"]["gt_boxes"] + subsets["web"]["gt_boxes"] == report["gt_boxes"]
    assert (
        subsets["captures"]["shapes_per_image"] + subsets["web"]["shapes_per_image"]
    ) / 2 == pytest.approx(report["shapes_per_image"], abs=1e-3)

    main(["--coco", str(tiny_sets / "boxes.json"), "--json", "--class-agnostic", "--subset", "captures"])
    captures = json.loads(capsys.readouterr().out)
    assert captures["images"] == 1 and captures["box_ap"] == subsets["captures"]["box_ap"]


def test_a_file_with_masks_gets_mask_figures_and_the_same_box_figures(tiny_sets):
    masked = evaluate_coco(DEFAULT_CHECKPOINT, tiny_sets / "annotations.json", class_agnostic=True)
    boxes = evaluate_coco(DEFAULT_CHECKPOINT, tiny_sets / "boxes.json", class_agnostic=True)
    assert masked["mask_figures"] == "computed" and 0.5 < masked["mask_ap50"] <= 1
    assert set(masked["per_class"]) == {"package"}
    for key in ("box_ap", "box_ap50", "recall50", "false_shapes_per_image", "shapes_per_image"):
        assert masked[key] == boxes[key]
    skipped = evaluate_coco(DEFAULT_CHECKPOINT, tiny_sets / "annotations.json", boxes_only=True)
    assert "mask_ap" not in skipped and skipped["mask_figures"] == "skipped: --boxes-only"


def uncalibrated_shipped_base() -> UniversalPredictor:
    """The shipped base without its calibration: scores are raw and every shape counts (threshold 0)."""
    predictor = UniversalPredictor.from_checkpoint(DEFAULT_CHECKPOINT)
    assert predictor.default_threshold == 0.5  # the shipped base is calibrated (issue 26)
    predictor.meta = {
        k: v for k, v in predictor.meta.items() if k not in ("score_calibration", "default_threshold")
    }
    assert predictor.default_threshold == 0.0
    return predictor


def test_predict_boxes_gives_the_matches_behind_the_figures_with_raw_and_calibrated_scores(tiny_sets):
    predictor = uncalibrated_shipped_base()
    images = predict_boxes(predictor, tiny_sets / "boxes.json")
    rows = box_matches(images)
    figures = box_figures(images, predictor.default_threshold)
    found = sum(r.matched for r in rows)
    assert found == round(figures["recall50"] * figures["gt_boxes"])
    assert len(rows) - found == round(figures["false_shapes_per_image"] * figures["images"])
    assert all(r.raw_score == r.score for r in rows)

    calibration = {"a": 2.0, "b": -1.0}
    predictor.meta = {**predictor.meta, "score_calibration": calibration, "default_threshold": 0.5}
    calibrated = predict_boxes(predictor, tiny_sets / "boxes.json", image_ids=[images[0].image_id])
    assert len(calibrated) == 1 and calibrated[0].boxes == images[0].boxes
    assert calibrated[0].raw_scores == images[0].raw_scores
    assert calibrated[0].scores == [calibrated_score(raw, calibration) for raw in images[0].raw_scores]


def test_box_metrics_of_a_loaded_predictor_at_any_threshold_with_the_matches_behind_the_figures(tiny_sets):
    predictor = uncalibrated_shipped_base()
    every = box_metrics(predictor, tiny_sets / "boxes.json")
    assert every["threshold"] == predictor.default_threshold == 0.0 and every["images"] == 2
    rows = every["matches"]
    assert len(rows) == round(every["shapes_per_image"] * 2) > 0
    assert sum(r.matched for r in rows) == round(
        every["recall50"] * every["gt_boxes"]
    )  # threshold 0: all shapes
    assert every["box_ap50"] > 0.5

    cut = sorted(r.score for r in rows)[len(rows) // 2]
    some = box_metrics(predictor, tiny_sets / "boxes.json", threshold=cut)
    assert some["threshold"] == cut and some["shapes_per_image"] == sum(r.score >= cut for r in rows) / 2
    assert (
        some["recall50"] <= every["recall50"]
        and some["false_shapes_per_image"] <= every["false_shapes_per_image"]
    )
    assert some["box_ap"] == every["box_ap"] and some["matches"] == rows  # AP and matches see every score
    none = box_metrics(predictor, tiny_sets / "boxes.json", threshold=1.01)
    assert none["recall50"] == none["shapes_per_image"] == none["false_shapes_per_image"] == 0

    captures = box_metrics(predictor, tiny_sets / "boxes.json", subset="captures")
    assert captures["images"] == 1 and {r.image_id for r in captures["matches"]} == {1}


def test_cli_threshold_sets_the_threshold_of_recall_and_shapes(tiny_sets, capsys):
    main(
        [
            "--coco",
            str(tiny_sets / "boxes.json"),
            "--json",
            "--class-agnostic",
            "--boxes-only",
            "--threshold",
            "2",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert report["threshold"] == 2.0 and report["recall50"] == report["shapes_per_image"] == 0
    assert report["box_ap50"] > 0.5 and "matches" not in report


def _error_of(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_bad_input_gets_a_message_naming_the_problem(tiny_sets, tmp_path, capsys):
    boxes = str(tiny_sets / "boxes.json")
    assert "does not exist" in _error_of(["--coco", str(tmp_path / "nope.json")], capsys)
    (tmp_path / "empty.json").write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    assert "lists no images" in _error_of(["--coco", str(tmp_path / "empty.json")], capsys)
    assert "invalid choice: 'phone'" in _error_of(["--coco", boxes, "--subset", "phone"], capsys)
    assert "source map" in _error_of(
        ["--coco", boxes, "--subset", "captures", "--source-map", str(tmp_path / "map.csv")], capsys
    )
    (tmp_path / "no_captures.csv").write_text(
        "file_name,series,kept\n"
        + "".join(
            f"{img['file_name']},,True\n"
            for img in json.loads((tiny_sets / "boxes.json").read_text())["images"]
        )
    )
    assert "no captures images" in _error_of(
        ["--coco", boxes, "--subset", "captures", "--source-map", str(tmp_path / "no_captures.csv")], capsys
    )
    assert "missing under" in _error_of(["--coco", boxes, "--images", str(tmp_path)], capsys)
    assert "checkpoint" in _error_of(["--coco", boxes, "--checkpoint", str(tmp_path / "none.pt")], capsys)
    assert "does not go with --against" in _error_of(
        ["--synthetic", "2", "--class-agnostic", "--against", str(DEFAULT_CHECKPOINT)], capsys
    )
    assert "--threshold go with --coco" in _error_of(["--synthetic", "2", "--threshold", "0.5"], capsys)


class _Misnaming(UniversalPredictor):
    """The shipped model with every shape given another category than the one it chose."""

    def predict(self, image, keep_maps=False):
        result = super().predict(image, keep_maps)
        for inst in result.instances:
            inst.category = "item" if inst.category != "item" else "envelope"
        return result


def test_class_agnostic_synthetic_mask_ap_counts_finding_packages_and_not_naming_them(capsys):
    right = UniversalPredictor.from_checkpoint(DEFAULT_CHECKPOINT)
    wrong = _Misnaming.from_checkpoint(DEFAULT_CHECKPOINT)
    named = evaluate_synthetic(right, 3, 1234)
    agnostic = evaluate_synthetic(right, 3, 1234, class_agnostic=True)
    assert named["mask_ap"] > 0.5 and agnostic["mask_ap"] >= named["mask_ap"] - 0.02
    assert evaluate_synthetic(wrong, 3, 1234)["mask_ap"] < 0.1  # every name wrong: nothing counts
    assert evaluate_synthetic(wrong, 3, 1234, class_agnostic=True)["mask_ap"] == agnostic["mask_ap"]
    main(["--synthetic", "3", "--seed", "1234", "--class-agnostic", "--json"])
    assert json.loads(capsys.readouterr().out)["mask_ap"] == agnostic["mask_ap"]
