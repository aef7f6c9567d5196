"""A contact sheet of pre-labels on real photos: what an annotator would open.

    python -m ml.universal.contact_sheet --coco /data/public_boxes/test.json --subset captures \
        --count 12 --out docs/universal_real_prelabels.png

Each tile is one photo with the shapes the app would pre-label (score at or above the
checkpoint's default threshold): a coloured fill and outline per shape, its score, and the
labelled boxes in red. Photos are picked evenly through the subset, so the sheet is the same
on every run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from ml.universal.eval_data import coco_selection, read_image
from ml.universal.evaluate import DEFAULT_CHECKPOINT
from ml.universal.predictor import UniversalPredictor


def draw(image: np.ndarray, instances: list, threshold: float, gt_boxes: list[list[float]]) -> np.ndarray:
    """BGR tile: shapes at or above ``threshold`` filled and outlined, labelled boxes (x, y, w, h) in red."""
    canvas = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    overlay = canvas.copy()
    rng = np.random.default_rng(0)
    kept = [inst for inst in instances if inst.score >= threshold]
    for inst in kept:
        colour = tuple(int(c) for c in rng.integers(60, 255, 3))
        overlay[inst.mask] = colour
    canvas = cv2.addWeighted(canvas, 0.55, overlay, 0.45, 0)
    for x, y, w, h in gt_boxes:
        cv2.rectangle(canvas, (int(x), int(y)), (int(x + w), int(y + h)), (0, 0, 255), 1)
    for inst in kept:
        contours, _ = cv2.findContours(inst.mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(canvas, contours, -1, (255, 255, 255), 1)
        ys, xs = np.nonzero(inst.mask)
        cv2.putText(
            canvas,
            f"{inst.score:.2f}",
            (int(xs.mean()) - 12, int(ys.mean()) + 4),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
    cv2.putText(
        canvas,
        f"{len(kept)} shapes, {len(gt_boxes)} labelled",
        (6, 18),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.5,
        (0, 255, 255),
        1,
        cv2.LINE_AA,
    )
    return canvas


def contact_sheet(
    checkpoint: str | Path,
    coco_path: str | Path,
    out: str | Path,
    subset: str | None = "captures",
    count: int = 12,
    columns: int = 4,
    tile: int = 320,
    images_dir: str | Path | None = None,
    source_map: str | Path | None = None,
) -> Path:
    predictor = UniversalPredictor.from_checkpoint(checkpoint)
    data, folder, _groups, chosen = coco_selection(coco_path, images_dir, subset, source_map)
    infos = {img["id"]: img for img in data["images"]}
    picked = [sorted(chosen)[int(k)] for k in np.linspace(0, len(chosen) - 1, min(count, len(chosen)))]
    boxes: dict[int, list[list[float]]] = {}
    for ann in data.get("annotations", []):
        boxes.setdefault(ann["image_id"], []).append(ann["bbox"])
    tiles = []
    for image_id in picked:
        image = read_image(folder / infos[image_id]["file_name"])
        tile_image = draw(
            image, predictor.predict(image).instances, predictor.default_threshold, boxes.get(image_id, [])
        )
        tiles.append(cv2.resize(tile_image, (tile, tile), interpolation=cv2.INTER_AREA))
    while len(tiles) % columns:
        tiles.append(np.full((tile, tile, 3), 255, np.uint8))
    sheet = np.vstack([np.hstack(tiles[k : k + columns]) for k in range(0, len(tiles), columns)])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), sheet)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Contact sheet of pre-labels on real photos.")
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--coco", required=True)
    parser.add_argument("--images")
    parser.add_argument("--subset", default="captures", choices=("captures", "web", "all"))
    parser.add_argument("--source-map")
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--out", required=True, help="PNG to write")
    args = parser.parse_args(argv)
    try:
        print(
            contact_sheet(
                args.checkpoint,
                args.coco,
                args.out,
                args.subset,
                args.count,
                images_dir=args.images,
                source_map=args.source_map,
            )
        )
    except ValueError as error:
        parser.error(str(error))


if __name__ == "__main__":
    main()
