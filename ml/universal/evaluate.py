"""Mask AP of a checkpoint with pycocotools (COCOeval, iouType="segm").

    python -m ml.universal.evaluate --checkpoint ml/checkpoints/universal_base.pt --synthetic 200 --seed 1234 --json
    python -m ml.universal.evaluate --coco val.json --images DIR --json
    python -m ml.universal.evaluate --synthetic 200 --against OTHER.pt --json   # paired bootstrap of the two

Predicted categories are matched to the ground truth's categories by *name*.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ml import geometry

DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "checkpoints" / "universal_base.pt"


def coco_from_dict(data: dict[str, Any]) -> COCO:
    """A pycocotools COCO index built from an in-memory dict, without its chatter on stdout.

    COCO's optional ``info`` is filled in where missing: pycocotools 2.0.10's ``loadRes`` needs it.
    """
    coco = COCO()
    coco.dataset = {"info": {}, **data}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


RESULT_KEYS = ("image_id", "category_id", "segmentation", "score")


class CocoMaskEvaluator:
    """Collects predictions image by image (``update``), then runs COCOeval (``summarize``)."""

    def __init__(self, coco_gt: COCO):
        self.coco_gt = coco_gt
        self.id_of = {c["name"]: c["id"] for c in coco_gt.loadCats(coco_gt.getCatIds())}
        self.results: list[dict[str, Any]] = []
        self.image_ids: list[int] = []

    def update(self, image_id: int, instances: list, categories: list[str] | None = None) -> None:
        """Add one image's predictions (objects with ``.mask``, ``.category``, ``.score``)."""
        self.image_ids.append(image_id)
        for inst in instances:
            if inst.category not in self.id_of:
                continue
            self.results.append({
                "image_id": image_id,
                "category_id": self.id_of[inst.category],
                "segmentation": geometry.mask_to_rle(inst.mask),
                "score": float(inst.score),
            })

    def summarize(self, image_ids: Iterable[int] | None = None) -> dict[str, Any]:
        """{"mask_ap", "mask_ap50", "mask_ap75", "per_class": {name: AP}} over the updated images, or only
        over those of them in ``image_ids`` (a subset scored without predicting again)."""
        scored = set(self.image_ids) if image_ids is None else set(self.image_ids) & set(image_ids)
        results = [r for r in self.results if r["image_id"] in scored]
        if not results:
            return {"mask_ap": 0.0, "mask_ap50": 0.0, "mask_ap75": 0.0, "per_class": {n: 0.0 for n in self.id_of}}
        with contextlib.redirect_stdout(io.StringIO()):
            # loadRes adds area, bbox and id to the dicts it gets: hand it copies, so summarize can run again
            coco_dt = self.coco_gt.loadRes([{k: r[k] for k in RESULT_KEYS} for r in results])
            ev = COCOeval(self.coco_gt, coco_dt, iouType="segm")
            ev.params.imgIds = sorted(scored)
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        # precision: [T iou thresholds, R recall points, K categories, A area ranges, M max dets]
        precision = ev.eval["precision"][:, :, :, 0, -1]
        per_class = {}
        for k, cat_id in enumerate(ev.params.catIds):
            p = precision[:, :, k]
            per_class[self.coco_gt.cats[cat_id]["name"]] = round(float(p[p > -1].mean()), 4) if (p > -1).any() else None
        return {
            "mask_ap": round(float(ev.stats[0]), 4),
            "mask_ap50": round(float(ev.stats[1]), 4),
            "mask_ap75": round(float(ev.stats[2]), 4),
            "per_class": per_class,
        }


def predictions(checkpoint: str | Path, coco_path: str | Path) -> CocoMaskEvaluator:
    """``checkpoint``'s predictions on every image of a COCO file, collected (not yet scored)."""
    from ml.universal.predictor import UniversalPredictor

    predictor = UniversalPredictor.from_checkpoint(checkpoint)
    coco = coco_from_dict(json.loads(Path(coco_path).read_text()))
    evaluator = CocoMaskEvaluator(coco)
    for image_id, image in _read_images(coco, Path(coco_path).parent):
        evaluator.update(image_id, predictor.predict(image).instances)
    return evaluator


def paired_bootstrap(a: CocoMaskEvaluator, b: CocoMaskEvaluator, draws: int = 200, seed: int = 0,
                     metrics: tuple[str, ...] = ("mask_ap",)) -> dict[str, Any]:
    """Mask AP of ``a`` minus ``b`` (same ground truth) over ``draws`` resamples of the images.

    Each draw picks as many images as there are, with replacement; a picked image and its
    annotations and predictions are copied under a new id, so repeats count as separate images.
    Returns the mean difference, its 95% interval (2.5th and 97.5th percentiles) and the share
    of draws in which ``a`` scores at least as high as ``b``, for ``metrics[0]`` (a key of
    ``summarize()``); with more ``metrics``, ``per_metric`` holds the same for each, from the
    same draws.
    """
    def by_image(entries: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
        grouped: dict[int, list[dict[str, Any]]] = {}
        for entry in entries:
            grouped.setdefault(entry["image_id"], []).append(entry)
        return grouped

    gt = a.coco_gt.dataset
    image_ids = sorted(set(a.image_ids))
    images = {img["id"]: img for img in gt["images"]}
    anns, results_a, results_b = by_image(gt["annotations"]), by_image(a.results), by_image(b.results)
    rng = np.random.default_rng(seed)
    diffs: dict[str, list[float]] = {name: [] for name in metrics}
    for _ in range(draws):
        picked = rng.choice(image_ids, size=len(image_ids), replace=True)
        new_images: list[dict[str, Any]] = []
        new_anns: list[dict[str, Any]] = []
        dt_a: list[dict[str, Any]] = []
        dt_b: list[dict[str, Any]] = []
        for new_id, old_id in enumerate(picked.tolist(), start=1):
            new_images.append({**images[old_id], "id": new_id})
            first_id = len(new_anns) + 1  # taken before extend: the list grows while it consumes the generator
            new_anns.extend({**ann, "image_id": new_id, "id": first_id + k} for k, ann in enumerate(anns.get(old_id, [])))
            dt_a.extend({**r, "image_id": new_id} for r in results_a.get(old_id, []))
            dt_b.extend({**r, "image_id": new_id} for r in results_b.get(old_id, []))
        scores = []
        for results in (dt_a, dt_b):
            evaluator = CocoMaskEvaluator(coco_from_dict({**gt, "images": new_images, "annotations": new_anns}))
            evaluator.results, evaluator.image_ids = results, list(range(1, len(picked) + 1))
            scores.append(evaluator.summarize())
        for name in metrics:
            diffs[name].append(scores[0][name] - scores[1][name])

    def spread(values: list[float]) -> dict[str, Any]:
        lo, hi = np.percentile(values, [2.5, 97.5])
        return {"mean_difference": round(float(np.mean(values)), 4), "ci95": [round(float(lo), 4), round(float(hi), 4)],
                "share_a_at_least_b": round(float(np.mean(np.array(values) >= 0)), 3)}

    report = {**spread(diffs[metrics[0]]), "draws": draws}
    if len(metrics) > 1:
        report["per_metric"] = {name: spread(values) for name, values in diffs.items()}
    return report


def synthetic_coco(count: int, seed: int, domain: str = "all", size: tuple[int, int] = (512, 512)):
    """Fresh synthetic scenes as (COCO ground-truth dict, [(image_id, image), ...])."""
    from ml.synth.dataset import coco_categories, iter_scenes, scene_annotations

    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    samples: list[tuple[int, np.ndarray]] = []
    for i, scene in enumerate(iter_scenes(domain, count, seed, size)):
        images.append({"id": i + 1, "file_name": f"{scene.domain}_{scene.seed}.png", "height": size[0], "width": size[1]})
        anns.extend(scene_annotations(scene, i + 1, len(anns) + 1))
        samples.append((i + 1, scene.image))
    return {"images": images, "annotations": anns, "categories": coco_categories()}, samples


def _read_images(coco: COCO, images_dir: Path) -> Iterator[tuple[int, np.ndarray]]:
    for img in coco.loadImgs(sorted(coco.getImgIds())):
        bgr = cv2.imread(str(images_dir / img["file_name"]), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(f"cannot read {images_dir / img['file_name']}")
        yield img["id"], cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def evaluate_checkpoint(checkpoint: str | Path, coco_path: str | Path, images_dir: str | Path | None = None) -> dict:
    """Mask AP of ``checkpoint`` on a COCO file; images default to the file's folder."""
    from ml.universal.engine import evaluate
    from ml.universal.predictor import UniversalPredictor

    predictor = UniversalPredictor.from_checkpoint(checkpoint)
    data = json.loads(Path(coco_path).read_text())
    coco = coco_from_dict(data)
    folder = Path(images_dir) if images_dir is not None else Path(coco_path).parent
    return evaluate(predictor, _read_images(coco, folder), CocoMaskEvaluator(coco))


def evaluate_synthetic(checkpoint_or_predictor, count: int, seed: int, domain: str = "all") -> dict:
    """Mask AP on ``count`` freshly generated 512x512 scenes (seeds ``seed`` .. ``seed + count - 1``)."""
    from ml.universal.engine import evaluate
    from ml.universal.predictor import UniversalPredictor

    predictor = checkpoint_or_predictor
    if not isinstance(predictor, UniversalPredictor):
        predictor = UniversalPredictor.from_checkpoint(checkpoint_or_predictor)
    data, samples = synthetic_coco(count, seed, domain)
    return evaluate(predictor, samples, CocoMaskEvaluator(coco_from_dict(data)))


def samples_from_spec(spec: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[int, np.ndarray]]]:
    """(COCO ground-truth dict, [(image_id, image), ...]) of a dataset spec, images in memory:
    ``{"synthetic": {"count", "seed", "domain"}}`` or ``{"coco": FILE, "images_dir": DIR}`` (the
    training config's ``val`` form)."""
    if "synthetic" in spec:
        syn = spec["synthetic"]
        return synthetic_coco(int(syn["count"]), int(syn.get("seed", 0)), syn.get("domain", "all"))
    data = json.loads(Path(spec["coco"]).read_text())
    folder = Path(spec.get("images_dir") or Path(spec["coco"]).parent)
    return data, list(_read_images(coco_from_dict(copy.deepcopy(data)), folder))


def compare(checkpoint_a: str | Path, checkpoint_b: str | Path, data: dict[str, Any],
            samples: list[tuple[int, np.ndarray]], draws: int = 200, seed: int = 0) -> dict[str, Any]:
    """Two checkpoints on the same images (``data`` COCO ground truth, ``samples`` its images): each
    one's metrics, and ``paired_bootstrap`` of a minus b for mask AP and AP50."""
    from ml.universal.engine import evaluate
    from ml.universal.predictor import UniversalPredictor

    report: dict[str, Any] = {}
    evaluators = []
    for key, checkpoint in (("a", checkpoint_a), ("b", checkpoint_b)):
        evaluators.append(CocoMaskEvaluator(coco_from_dict(copy.deepcopy(data))))
        metrics = evaluate(UniversalPredictor.from_checkpoint(checkpoint), samples, evaluators[-1])
        report[key] = {"checkpoint": str(checkpoint), **metrics}
    a, b = evaluators
    report["a_minus_b"] = paired_bootstrap(a, b, draws, seed, metrics=("mask_ap", "mask_ap50"))
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Mask AP of a universal-model checkpoint.")
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--synthetic", type=int, metavar="N", help="evaluate on N fresh synthetic scenes")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--domain", default="all", help="synthetic domain (default: all, cycling)")
    parser.add_argument("--coco", help="COCO instances file to evaluate on")
    parser.add_argument("--images", help="folder holding the COCO file's images (default: its folder)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--against", metavar="CKPT", help="also run CKPT on the same images and bootstrap the "
                        "difference (--checkpoint minus CKPT, mask AP and AP50)")
    parser.add_argument("--draws", type=int, default=200, help="bootstrap draws for --against (default 200)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.against:
        if args.coco:
            spec: dict[str, Any] = {"coco": args.coco, "images_dir": args.images}
        elif args.synthetic:
            spec = {"synthetic": {"count": args.synthetic, "seed": args.seed, "domain": args.domain}}
        else:
            parser.error("give --synthetic N or --coco FILE")
        metrics = compare(args.checkpoint, args.against, *samples_from_spec(spec), args.draws)
    elif args.coco:
        metrics = evaluate_checkpoint(args.checkpoint, args.coco, args.images)
    elif args.synthetic:
        metrics = evaluate_synthetic(args.checkpoint, args.synthetic, args.seed, args.domain)
    else:
        parser.error("give --synthetic N or --coco FILE")
    metrics["wall_seconds"] = round(time.perf_counter() - start, 2)
    if args.json:
        print(json.dumps(metrics))
    else:
        for key, value in metrics.items():
            print(f"{key:>18}: {value}")


if __name__ == "__main__":
    main()
