"""The effort model prices each action as documented, and the gate picks the mode that saves time."""

import numpy as np
import pytest

from ml.active.effort import (
    EffortModel,
    ImageOutcome,
    bootstrap_ratio,
    gate,
    outcome_from_ious,
    precision_recall,
    seconds_with,
    seconds_without,
)
from ml.active.effort_replay import replay
from ml.geometry import box_iou_matrix

MODEL = EffortModel()


def test_constants_come_from_the_cited_studies():
    assert MODEL.verify_s == 1.6
    assert MODEL.click_s == 1.75
    assert MODEL.delete_s == pytest.approx(1.38)
    assert MODEL.draw_s == pytest.approx(2 * 1.75 + 1.6)
    assert MODEL.fix_s == pytest.approx(1.75)
    assert EffortModel(draw="polygon").draw_s == pytest.approx(79.2)


def test_box_iou_and_greedy_matching():
    ious = box_iou_matrix([[0, 0, 10, 10], [0, 0, 10, 5], [50, 50, 4, 4]], [[0, 0, 10, 10]])
    assert ious[:, 0].tolist() == pytest.approx([1.0, 0.5, 0.0])
    # the lower-scored exact box loses the package to the higher-scored half box
    outcome = outcome_from_ious([0.2, 0.9, 0.5], ious, 1)
    assert outcome.scores == (0.9, 0.5, 0.2)
    assert outcome.ious == (0.5, 0.0, 0.0)


def test_seconds_for_a_known_image():
    # three packages; shapes: an exact one (0.9), a loose one (0.8, IoU 0.6), a false one (0.7)
    outcome = ImageOutcome(scores=(0.9, 0.8, 0.7), ious=(0.95, 0.6, 0.0), packages=3)
    draw, verify, delete, fix, key = MODEL.draw_s, MODEL.verify_s, MODEL.delete_s, MODEL.fix_s, MODEL.key_s
    assert seconds_without(outcome, MODEL) == pytest.approx(3 * draw)
    assert seconds_with(outcome, 0.0, "prelabel", MODEL) == pytest.approx(3 * verify + fix + delete + draw)
    assert seconds_with(outcome, 0.75, "prelabel", MODEL) == pytest.approx(2 * verify + fix + draw)
    glance = MODEL.glance_s
    assert seconds_with(outcome, 0.0, "suggest", MODEL) == pytest.approx(
        2 * verify + key + (key + fix) + glance + draw
    )
    assert seconds_with(outcome, float("inf"), "prelabel", MODEL) == pytest.approx(3 * draw)
    assert precision_recall([outcome], 0.75) == (1.0, pytest.approx(2 / 3))


def test_outcomes_are_checked():
    with pytest.raises(ValueError, match="descending"):
        ImageOutcome(scores=(0.1, 0.9), ious=(0.0, 0.0), packages=1)
    with pytest.raises(ValueError, match="more matched"):
        ImageOutcome(scores=(0.9, 0.8), ious=(0.9, 0.9), packages=1)
    with pytest.raises(ValueError, match="unknown mode"):
        seconds_with(ImageOutcome((), (), 0), 0.5, "auto", MODEL)  # type: ignore[arg-type]


def _project(good: bool, images: int = 24) -> list[ImageOutcome]:
    """Four packages per image. A good model finds them all exactly, with one low-scored false shape;
    a wrong one draws twenty false shapes that outscore its single loose match."""
    if good:
        return [ImageOutcome((0.95, 0.9, 0.9, 0.85, 0.2), (0.95, 0.93, 0.97, 0.92, 0.0), 4)] * images
    false = tuple(np.linspace(0.99, 0.6, 20).tolist())
    return [ImageOutcome((*false, 0.5), (0.0,) * 20 + (0.6,), 4)] * images


def test_gate_picks_prelabels_for_a_good_model_and_suggestions_for_a_wrong_one():
    good = gate(_project(good=True), default_threshold=0.5)
    assert good.mode == "prelabel"
    assert 0.2 < good.threshold <= 0.85  # the false shape at 0.2 is left out, every true one shown
    assert good.precision == 1.0 and good.recall == 1.0
    assert good.seconds_saved_per_image == pytest.approx(4 * MODEL.draw_s - 4 * MODEL.verify_s)
    assert "save" in good.reason

    wrong = gate(_project(good=False), default_threshold=0.0)
    assert wrong.mode == "suggest"
    assert wrong.seconds_saved_per_image is not None and wrong.seconds_saved_per_image >= 0.0
    assert "suggestions" in wrong.reason


def test_gate_uses_the_calibrated_default_until_enough_images_are_reviewed():
    decision = gate(_project(good=False, images=5), default_threshold=0.42)
    assert (decision.mode, decision.threshold, decision.learned) == ("prelabel", 0.42, False)
    assert decision.seconds_saved_per_image is None
    assert "5 of 20" in decision.reason
    assert decision.as_dict()["threshold"] == 0.42


def test_bootstrap_ratio_interval_contains_the_point():
    point, low, high = bootstrap_ratio([1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 2.0, 2.0])
    assert point == pytest.approx(10 / 8)
    assert low <= point <= high and low < high
    with pytest.raises(ValueError):
        bootstrap_ratio([], [])


def test_replay_never_lets_the_gate_make_images_slower_on_a_wrong_model():
    result = replay(_project(good=False, images=30), default_threshold=0.0)
    cases = result["cases"]
    assert cases["every"]["ratio_to_none"] > 1.0  # twenty false shapes per image cost more than drawing
    # the first 20 images ran at the default; the gate then switches to suggestions
    assert result["gate"]["mode"] == "suggest"
    later = replay(_project(good=False, images=30), default_threshold=0.0, reviewed=20)
    assert later["cases"]["gated"]["seconds_per_image"] < cases["every"]["seconds_per_image"]
    good = replay(_project(good=True, images=30), default_threshold=0.5)["cases"]
    assert good["gated"]["ratio_to_none"] < 0.35  # a good model: about 3x faster


def test_an_uncalibrated_checkpoint_starts_with_suggestions():
    decision = gate([], default_threshold=0.0, calibrated=False)
    assert (decision.mode, decision.learned) == ("suggest", False)
    assert "no calibrated scores" in decision.reason
    result = replay(_project(good=False, images=30), default_threshold=0.0, calibrated=False)
    cases = result["cases"]
    # the twenty false shapes cost a glance each as suggestions, not a check and a delete
    assert cases["gated"]["ratio_to_none"] < cases["default"]["ratio_to_none"] / 2
    assert cases["gated_after"]["ratio_to_none"] == pytest.approx(1.0)  # learned: hide them all


def test_the_replayed_gate_is_relearned_after_each_review_as_the_app_does_so_a_new_site_flips_it():
    # 20 images where the model is right, then a site where it is wrong (the val captures' first 20 are
    # another site than the rest). A gate frozen after the 20 would keep pre-labelling the wrong site.
    outcomes = _project(good=True, images=20) + _project(good=False, images=25)
    result = replay(outcomes, default_threshold=0.5)
    frozen = gate(outcomes[:20], default_threshold=0.5)
    assert frozen.mode == "prelabel"
    frozen_seconds = [seconds_with(o, frozen.threshold, frozen.mode, MODEL) for o in outcomes[20:]]
    live = result["cases"]["gated_after"]["seconds_per_image"]
    assert live < float(np.mean(frozen_seconds))
    assert result["gate"]["mode"] == "suggest"  # after every image was reviewed
