"""Image preprocessing and training targets shared by training and inference.

The model sees the image resized so its longest side is ``input_size`` pixels, padded on the
right/bottom to a multiple of 32. Targets live at the model's output stride (2).
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import torch

STRIDE = 2  # output stride of the network heads
MULTIPLE = 32  # input sides must be multiples of the encoder's total stride
IGNORE = 255  # semantic target value excluded from the loss (padding, unknown categories)
ANY_PACKAGE = 254  # semantic target: a package of unknown category (only p(background) is taught)
IGNORE_INTERIOR = -1.0  # interior target value excluded from the loss (padding, unknown regions)
MAX_BOXES = 64  # box labels kept per training image (the largest); real captures hold up to 67
# Box labels (real photos) are evidence of a package's front face, not its mask:
BOX_BAND = 0.1  # the outer tenth of each side of a box is left to the projection loss
BOX_OUTSIDE = 0.15  # a visible top or side may extend the package this far (of the box's side) beyond its box
KNOWN_MARGIN = 0.15  # with partial labels, background is known this far (of the image side) around the boxes
INTERIOR_SATURATION = 4.0  # px at stride 2; see normalised_interior
# What box labels may say of the interior map (box_interior_evidence), each off (0) or on (1): a front-face
# box's core lies deep inside its package; where two boxes meet edge to edge (a stack) the line between
# them is a border. Both off by default: measured on site W (docs/fewshot.md), cores cost AP.
BOX_CORES = 0
BOX_SEAMS = 0
SEAM_TOLERANCE = 3  # px at stride 2: facing edges of two boxes this close meet (labels are a few px off)


def resize_long_side(
    image: np.ndarray, input_size: int, interpolation=cv2.INTER_AREA
) -> tuple[np.ndarray, float]:
    """Resize so max(H, W) == ``input_size``; returns (resized, scale = new / old)."""
    height, width = image.shape[:2]
    scale = input_size / max(height, width)
    if abs(scale - 1.0) < 1e-6:
        return image, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=interpolation), scale


def padded_size(height: int, width: int) -> tuple[int, int]:
    """Round (H, W) up to the next multiple of 32."""
    return -(-height // MULTIPLE) * MULTIPLE, -(-width // MULTIPLE) * MULTIPLE


def to_tensor(image: np.ndarray, pad_to: tuple[int, int] | None = None) -> torch.Tensor:
    """uint8 RGB (H, W, 3) -> float (3, H', W') in [0, 1], zero-padded bottom/right to ``pad_to``."""
    height, width = image.shape[:2]
    ph, pw = pad_to if pad_to is not None else padded_size(height, width)
    out = torch.zeros(3, ph, pw)
    out[:, :height, :width] = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255.0
    return out


def instance_targets(
    labels: np.ndarray, classes: np.ndarray, pad_to: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Semantic and interior targets at stride 2 from an instance label map.

    ``labels``: int (H, W), 0 background, k for instance k (input resolution, unpadded).
    ``classes``: int array, ``classes[k]`` is instance k's class (1..C), or ``IGNORE``.
    Returns (semantic uint8 (H'/2, W'/2) with IGNORE on padding, interior float32 in [0, 1], see ``normalised_interior``).
    """
    ph, pw = pad_to
    height, width = labels.shape
    h2, w2 = -(-height // STRIDE), -(-width // STRIDE)
    small = cv2.resize(labels.astype(np.int32).astype(np.float32), (w2, h2), interpolation=cv2.INTER_NEAREST)
    small = small.astype(np.int64)
    semantic = np.full((ph // STRIDE, pw // STRIDE), IGNORE, dtype=np.uint8)
    semantic[:h2, :w2] = classes[small]
    interior = np.full((ph // STRIDE, pw // STRIDE), IGNORE_INTERIOR, dtype=np.float32)
    interior[:h2, :w2] = normalised_interior(small)
    interior[semantic == IGNORE] = IGNORE_INTERIOR
    return semantic, interior


def box_targets(
    boxes: np.ndarray,
    class_index: int,
    size: tuple[int, int],
    pad_to: tuple[int, int],
    partial: bool,
    background: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Semantic, interior and projection-box targets at stride 2 from box labels.

    ``boxes``: float (N, 4) x0, y0, x1, y1 in pixels of the (resized) input image of ``size`` (H, W).
    A box marks a package's front face, so the targets claim only what it proves:

    * the box's core is the package (``class_index``), the band of ``BOX_BAND`` of each side inside
      it is IGNORE (the projection loss pulls the mask out to the box's edges, see
      ``engine.box_projection_loss``), and a ring of ``BOX_OUTSIDE`` around it is IGNORE (a mask that
      covers a visible top or side beyond the box costs nothing; one that falls short does);
    * the interior target is ``IGNORE_INTERIOR`` everywhere (with ``BOX_CORES`` and ``BOX_SEAMS`` 0, the
      default; ``box_interior_evidence`` otherwise): a front-face box does not say where
      the package's border is (its top or side lies beyond the box, and a box's edge is a few pixels
      off the carton's), so the interior map, which splits touching parcels, learns from exact masks
      only. Measured (issue 29, ``docs/fewshot.md``): fine-tuning the eighth base on 300 of site W's
      frames at lr 3e-5 took W's val AP50 from 0.523 to 0.399 with the boxes' own interior as the
      target, and to 0.549 without it (W's test videos 0.295 -> 0.160 / 0.377);
    * elsewhere is background, except with ``partial`` labels (photos where some visible cartons are
      not labelled): there only the boxes' hull and a margin of ``KNOWN_MARGIN`` around it are; without
      ``background`` nothing is (positives only: a shared base trained on other teams' labels, whose
      conventions of what to leave unlabelled differ, learns from their boxes what a package is, never
      from what they left out what one is not; ``ml.fleet.data.BoxSource``).

    Returns (semantic uint8, interior float32, projection boxes int64 (MAX_BOXES, 4) at stride 2,
    rows of -1 beyond the boxes kept: the largest ``MAX_BOXES``).
    """
    ph, pw = pad_to
    height, width = size
    h2, w2 = -(-height // STRIDE), -(-width // STRIDE)
    semantic = np.full((ph // STRIDE, pw // STRIDE), IGNORE, dtype=np.uint8)
    small = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) / STRIDE
    small[:, [0, 2]] = small[:, [0, 2]].clip(0, w2)
    small[:, [1, 3]] = small[:, [1, 3]].clip(0, h2)
    small = small[(small[:, 2] - small[:, 0] >= 1) & (small[:, 3] - small[:, 1] >= 1)]
    small = small[np.argsort(-(small[:, 2] - small[:, 0]) * (small[:, 3] - small[:, 1]), kind="stable")]
    valid = semantic[:h2, :w2]
    if not background:
        pass  # only the boxes' cores (below) are known
    elif not partial:
        valid[:] = 0
    elif len(small):
        mx, my = KNOWN_MARGIN * w2, KNOWN_MARGIN * h2
        x0, y0 = int(max(small[:, 0].min() - mx, 0)), int(max(small[:, 1].min() - my, 0))
        valid[y0 : int(np.ceil(small[:, 3].max() + my)), x0 : int(np.ceil(small[:, 2].max() + mx))] = 0
    rounded = (
        np.stack(
            [np.floor(small[:, 0]), np.floor(small[:, 1]), np.ceil(small[:, 2]), np.ceil(small[:, 3])], axis=1
        ).astype(np.int64)
        if len(small)
        else np.zeros((0, 4), np.int64)
    )
    for x0, y0, x1, y1 in rounded:
        ox, oy = int(round(BOX_OUTSIDE * (x1 - x0))), int(round(BOX_OUTSIDE * (y1 - y0)))
        valid[max(y0 - oy, 0) : y1 + oy, max(x0 - ox, 0) : x1 + ox] = IGNORE
    for x0, y0, x1, y1 in rounded:
        bx, by = int(BOX_BAND * (x1 - x0)), int(BOX_BAND * (y1 - y0))
        valid[y0:y1, x0:x1] = IGNORE
        valid[y0 + by : y1 - by, x0 + bx : x1 - bx] = class_index
    interior = np.full((ph // STRIDE, pw // STRIDE), IGNORE_INTERIOR, dtype=np.float32)
    if BOX_CORES or BOX_SEAMS:
        interior[:h2, :w2] = box_interior_evidence(
            rounded, (h2, w2), cores=bool(BOX_CORES), seams=bool(BOX_SEAMS)
        )
        valid[interior[:h2, :w2] == 0.0] = class_index  # a seam lies between two packages: it is package too,
        # which also lets engine.contact_band weigh it as the border between touching parcels that it is
    projection = np.full((MAX_BOXES, 4), -1, dtype=np.int64)
    projection[: min(len(rounded), MAX_BOXES)] = rounded[:MAX_BOXES]
    return semantic, interior, projection


# The last column of a sample's boxes: a box label, or an instance mask's bounding box (``with_kind``).
BOX_LABEL, MASK_BOX = 1, 0


def with_kind(boxes: np.ndarray, kind: int) -> np.ndarray:
    """(K, 4) stride-2 boxes, rows of -1 for none, with a fifth column: ``kind`` (-1 on empty rows).

    Every box trains the centre head (``ml.universal.centers``); only box labels (``BOX_LABEL``) train
    the projection loss, since a mask's own pixels already say all that its box would."""
    column = np.where(boxes[:, 2] > boxes[:, 0], kind, -1)
    return np.concatenate([boxes, column[:, None]], axis=1).astype(np.int64)


def mask_boxes(labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Stride-2 bounding boxes (``MAX_BOXES``, 5) of the instances of a label map, largest first, kind
    ``MASK_BOX`` (see ``with_kind``); ``labels`` int (H, W) at input resolution, 0 background, instance k's
    class ``classes[k]`` (``IGNORE`` instances are left out)."""
    found = []
    for k in np.unique(labels):
        if k == 0 or classes[k] == IGNORE:
            continue
        ys, xs = np.nonzero(labels == k)
        found.append(
            [
                xs.min() // STRIDE,
                ys.min() // STRIDE,
                -(-(xs.max() + 1) // STRIDE),
                -(-(ys.max() + 1) // STRIDE),
            ]
        )
    found.sort(key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))
    out = np.full((MAX_BOXES, 4), -1, dtype=np.int64)
    if found:
        out[: min(len(found), MAX_BOXES)] = np.array(found[:MAX_BOXES], dtype=np.int64)
    return with_kind(out, MASK_BOX)


def box_interior_evidence(
    boxes: np.ndarray, size: tuple[int, int], cores: bool = True, seams: bool = True
) -> np.ndarray:
    """The part of the interior target that front-face boxes prove, IGNORE_INTERIOR elsewhere (stride 2).

    ``boxes``: int (N, 4) x0, y0, x1, y1 at stride 2; ``size``: (H, W) of the map.

    * **Core: 1.** A pixel ``INTERIOR_SATURATION`` or more inside a box is at least that far from its
      package's border, since the package's mask holds its front face (and maybe a top or side beyond
      it), so ``normalised_interior`` is 1 there, however far the package extends. Only where no other
      box comes within that distance: an overlap does not say which package is in front.
    * **Seams: 0.** Two boxes whose facing edges lie within ``SEAM_TOLERANCE`` of each other, along a
      shared stretch, are stacked or side by side: the line midway between the edges is their border.
      The corners (``INTERIOR_SATURATION`` from each end of the stretch) are left out.
    """
    height, width = size
    out = np.full((height, width), IGNORE_INTERIOR, dtype=np.float32)
    d = int(INTERIOR_SATURATION)
    boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    if cores:
        near = np.zeros((height, width), dtype=np.int32)  # boxes within d of each pixel
        core = np.zeros((height, width), dtype=bool)
        for x0, y0, x1, y1 in boxes:
            near[max(y0 - d, 0) : y1 + d, max(x0 - d, 0) : x1 + d] += 1
            core[y0 + d : max(y1 - d, y0 + d), x0 + d : max(x1 - d, x0 + d)] = True
        out[core & (near == 1)] = 1.0
    pairs = itertools.permutations(boxes.tolist(), 2) if seams else ()
    for (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) in pairs:
        if abs(ay1 - by0) <= SEAM_TOLERANCE:  # b below a
            lo, hi = max(ax0, bx0) + d, min(ax1, bx1) - d
            if lo < hi and 0 <= (row := (ay1 + by0) // 2) < height:
                out[row, lo:hi] = 0.0
        if abs(ax1 - bx0) <= SEAM_TOLERANCE:  # b right of a
            lo, hi = max(ay0, by0) + d, min(ay1, by1) - d
            if lo < hi and 0 <= (col := (ax1 + bx0) // 2) < width:
                out[lo:hi, col] = 0.0
    return out


def normalised_interior(labels: np.ndarray, saturation: float = INTERIOR_SATURATION) -> np.ndarray:
    """Distance to the instance's border over min(``saturation``, the instance's peak distance), clipped to 1.

    Large parcels therefore have a plateau of 1 that starts ``saturation`` pixels (at stride 2)
    inside their border, so odd, occluded outlines do not split; small ones still peak at 1.
    """
    border = np.zeros(labels.shape, dtype=bool)
    border[:-1] |= labels[:-1] != labels[1:]
    border[1:] |= labels[1:] != labels[:-1]
    border[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    border[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    inside = ((labels > 0) & ~border).astype(np.uint8)
    inside = np.pad(inside, 1)  # image edges count as borders too
    dist = cv2.distanceTransform(inside, cv2.DIST_L2, 3)[1:-1, 1:-1]
    peak = np.zeros(int(labels.max()) + 1, dtype=np.float32)
    np.maximum.at(peak, labels.ravel(), dist.ravel())
    peak[0] = 1.0
    scale = np.minimum(peak, saturation)
    return np.minimum(dist / np.maximum(scale[labels], 1e-6), 1.0).astype(np.float32)
