"""Learning without forgetting: the maps kept near the init's where it was right (``engine.distillation_loss``)."""

from __future__ import annotations

import math

import pytest
import torch

from ml.universal import targets
from ml.universal.checkpoint import load_checkpoint
from ml.universal.engine import Distillation, distillation_loss
from ml.universal.model import build_model
from ml.universal.train import train


def _maps(background: float, box: float, interior: float) -> dict[str, torch.Tensor]:
    """One 1x2 image: pixel 0's and pixel 1's logits over (background, cardboard_box) and the interior logit."""
    semantic = torch.zeros(1, 2, 1, 2)
    semantic[0, 0], semantic[0, 1] = background, box
    return {"semantic": semantic, "interior": torch.full((1, 1, 1, 2), interior)}


def test_a_student_that_computes_what_the_teacher_did_costs_nothing():
    maps = _maps(0.3, 1.7, -0.4)
    target = torch.tensor([[[1, targets.IGNORE]]])
    assert float(distillation_loss(maps, maps, target)) == pytest.approx(0.0, abs=1e-6)


def test_the_loss_is_the_kl_of_classes_and_interiors_on_the_pixels_where_the_teacher_was_right_or_none_knows():
    teacher, student = _maps(0.0, math.log(3.0), 0.0), _maps(0.0, 0.0, math.log(3.0))
    # Teacher: p(box) 0.75, interior 0.5 at both pixels. Student: p(box) 0.5, interior 0.75.
    kl_classes = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    kl_interior = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    expected = kl_classes + 2.0 * kl_interior  # INTERIOR_WEIGHT
    right_and_unknown = torch.tensor([[[1, targets.IGNORE]]])
    assert float(distillation_loss(student, teacher, right_and_unknown)) == pytest.approx(expected, rel=1e-5)
    # Pixel 1's target is background but the teacher says box: the target alone teaches there.
    one_wrong = torch.tensor([[[1, 0]]])
    assert float(distillation_loss(student, teacher, one_wrong)) == pytest.approx(expected, rel=1e-5)
    # A box of any package counts where the teacher named some package (its category is kept).
    any_package = torch.tensor([[[targets.ANY_PACKAGE, targets.ANY_PACKAGE]]])
    assert float(distillation_loss(student, teacher, any_package)) == pytest.approx(expected, rel=1e-5)
    all_wrong = torch.tensor([[[0, 0]]])
    assert float(distillation_loss(student, teacher, all_wrong)) == 0.0
    moved = _maps(0.0, 0.0, math.log(3.0))
    moved["semantic"][0, 1, 0, 1] = 5.0  # the student changes only the pixel where the teacher was wrong
    assert float(distillation_loss(moved, teacher, one_wrong)) == pytest.approx(expected, rel=1e-5)


def test_the_teacher_is_a_frozen_copy_that_keeps_the_weights_it_was_taken_with():
    model = build_model("unet_s", num_classes=6)
    distill = Distillation.of(model, 2.0)
    assert distill.weight == 2.0 and not distill.teacher.training
    assert not any(p.requires_grad for p in distill.teacher.parameters())
    assert all(p.requires_grad for p in model.parameters())
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    first = next(distill.teacher.parameters())
    assert not torch.equal(first, next(model.parameters()))


def test_training_with_distillation_records_its_weight_and_stays_nearer_the_init(tmp_path):
    torch.set_num_threads(1)
    init = tmp_path / "init.pt"
    config = {
        "input_size": 64,
        "data": {"synthetic": {"count": 4, "seed": 3, "domains": ["pallet_stack"]}},
        "steps": 12,
        "batch_size": 2,
        "lr": 3e-3,
        "bn_recalibration_batches": 0,
        "out": str(init),
    }
    train({**config, "steps": 2})
    runs = {}
    for weight in (0.0, 50.0):
        out = tmp_path / f"distill_{weight}.pt"
        train({**config, "init": str(init), "distill": weight, "out": str(out), "freeze_batchnorm": True})
        runs[weight] = load_checkpoint(out)
    start, _ = load_checkpoint(init)
    images = torch.rand(2, 3, 64, 64)

    def moved(model: torch.nn.Module) -> float:  # how far its maps of these images are from the init's
        with torch.no_grad():
            return float((model.eval()(images)["semantic"] - start.eval()(images)["semantic"]).abs().mean())

    assert runs[0.0][1]["data"]["distill"] == 0.0 and runs[50.0][1]["data"]["distill"] == 50.0
    # Measured: 0.06 against 1.33.
    assert 0.0 < moved(runs[50.0][0]) < 0.5 * moved(runs[0.0][0])
