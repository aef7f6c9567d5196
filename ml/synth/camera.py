"""What a real camera does to a warehouse photo, as seeded augmentations usable on any scene.

:func:`camera_effects` changes only pixel values (labels stay valid as they are);
:func:`camera_warp` moves pixels, so it takes and returns the label map too. ``strength``
scales both how often each effect fires and how strong it is: 0 leaves the image alone
(apart from conversion to uint8), 1 is the default mix, up to 2 is harsher.
Images are RGB, (H, W, 3), uint8 or float in 0..255; labels are int (H, W), 0 = background.
"""

from __future__ import annotations

import cv2
import numpy as np

GREYSCALE_SHARE = 0.15  # share of photos from a greyscale ceiling rig


def _fires(rng: np.random.Generator, probability: float, strength: float) -> bool:
    return bool(rng.random() < min(1.0, probability * strength))


def camera_effects(image: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """A random subset of photometric camera effects; returns uint8 RGB of the same shape.

    - colour temperature: warm/cool white balance and a green/magenta tint (sodium, LED, daylight);
    - exposure and contrast: global gain and gamma, as auto-exposure misjudges a scene;
    - lighting gradient: a linear ramp across the frame and pools of light from ceiling lamps;
    - cast shadows: soft-edged dark bands and blobs (beams, racking, people out of frame);
    - blur: motion blur along a random direction, or defocus blur (disc kernel);
    - vignetting: corners darker than the centre, as wide-angle lenses do;
    - sensor noise: shot noise growing with brightness, read noise and colour (chroma) noise;
    - greyscale: the whole photo from a monochrome ceiling rig (about 15% of photos);
    - JPEG recompression at quality 30-90 (phones, messaging apps, web uploads).
    """
    img = np.asarray(image, dtype=np.float32).copy()
    height, width = img.shape[:2]
    if strength <= 0:
        return np.clip(img, 0, 255).astype(np.uint8)
    if _fires(rng, 0.6, strength):
        warm = float(rng.normal(0, 0.08 * strength))
        tint = float(rng.normal(0, 0.03 * strength))
        img *= np.array([1 + warm, 1 + tint, 1 - warm], dtype=np.float32)
    if _fires(rng, 0.6, strength):
        gain = float(np.exp(rng.normal(0, 0.22 * strength)))
        gamma = float(np.exp(rng.normal(0, 0.15 * strength)))
        img = 255.0 * (np.clip(img * gain, 0, 255) / 255.0) ** gamma
    if _fires(rng, 0.6, strength):
        img *= _light_field(rng, height, width, strength)[..., None]
    if _fires(rng, 0.35, strength):
        img *= _shadow_field(rng, height, width, strength)[..., None]
    if _fires(rng, 0.25, strength):
        img = _motion_blur(rng, img, strength)
    elif _fires(rng, 0.15, strength):
        img = _defocus(rng, img, strength)
    if _fires(rng, 0.4, strength):
        yy, xx = np.ogrid[-1 : 1 : complex(0, height), -1 : 1 : complex(0, width)]
        fall = float(rng.uniform(0.15, 0.45)) * min(strength, 1.5)
        img *= (1.0 - fall * ((xx**2 + yy**2) / 2.0) ** 1.2)[..., None].astype(np.float32)
    if _fires(rng, 0.8, strength):
        img = _sensor_noise(rng, img, strength)
    if _fires(rng, GREYSCALE_SHARE, min(strength, 1.0)):
        grey = img @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        img = np.repeat(grey[..., None], 3, axis=2)
    out = np.clip(img, 0, 255).astype(np.uint8)
    if _fires(rng, 0.6, strength):
        quality = int(rng.integers(30, 91))
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
        decoded = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else None
        if decoded is not None:  # a failed round trip keeps the image as it was
            out = np.asarray(decoded, dtype=np.uint8).reshape(out.shape)
    return out


def camera_warp(
    image: np.ndarray, labels: np.ndarray, rng: np.random.Generator, strength: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Slight perspective warp, roll and barrel distortion, applied alike to image and labels.

    The output samples only inside the source (the view zooms in a little instead of showing
    borders), labels with nearest-neighbour sampling so ids stay exact. Returns (image, labels)
    with the input dtypes and shape.
    """
    height, width = labels.shape
    if strength <= 0:
        return image.copy(), labels.copy()
    src = _view_quad(rng, height, width, strength)
    barrel = float(rng.uniform(0.03, 0.15)) * min(strength, 1.5) if _fires(rng, 0.4, strength) else 0.0
    return warp_to_quad(image, labels, src, barrel)


def warp_to_quad(
    image: np.ndarray, labels: np.ndarray, quad: np.ndarray, barrel: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Warp so the output frame shows the source quadrilateral ``quad`` (corners top-left, top-right,
    bottom-right, bottom-left, px, inside the image), with barrel distortion ``barrel`` (0: none;
    scaled so the corners stay inside). Labels are sampled nearest-neighbour; dtypes are kept."""
    height, width = labels.shape
    dst = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    hom = cv2.getPerspectiveTransform(dst, np.asarray(quad, dtype=np.float32))  # output pixel -> source pixel
    source = np.ascontiguousarray(image)
    if barrel <= 0:
        flags = cv2.WARP_INVERSE_MAP
        warped = cv2.warpPerspective(
            source, hom, (width, height), flags=cv2.INTER_LINEAR | flags, borderMode=cv2.BORDER_REPLICATE
        )
        label_map = cv2.warpPerspective(
            labels.astype(np.float32),
            hom,
            (width, height),
            flags=cv2.INTER_NEAREST | flags,
            borderMode=cv2.BORDER_REPLICATE,
        )
        return warped.astype(image.dtype), np.rint(label_map).astype(labels.dtype)
    cx, cy, norm = width / 2, height / 2, np.hypot(width / 2, height / 2)
    xx = np.arange(width, dtype=np.float32)[None, :] - cx
    yy = np.arange(height, dtype=np.float32)[:, None] - cy
    factor = (1 + barrel * (xx**2 + yy**2) / norm**2) / (1 + barrel)  # sample further out towards the edges
    xx, yy = cx + xx * factor, cy + yy * factor
    h = hom.astype(np.float32)
    w = h[2, 0] * xx + h[2, 1] * yy + h[2, 2]
    map_x = np.clip((h[0, 0] * xx + h[0, 1] * yy + h[0, 2]) / w, 0, width - 1).astype(np.float32)
    map_y = np.clip((h[1, 0] * xx + h[1, 1] * yy + h[1, 2]) / w, 0, height - 1).astype(np.float32)
    warped = cv2.remap(source, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    label_map = cv2.remap(
        labels.astype(np.float32), map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE
    )
    return warped.astype(image.dtype), np.rint(label_map).astype(labels.dtype)


def _view_quad(rng: np.random.Generator, height: int, width: int, strength: float) -> np.ndarray:
    """The source quadrilateral the output frame shows: corners pulled in at random (perspective),
    rolled by a few degrees, then shrunk about the centre until it lies inside the image."""
    jitter = rng.uniform(0, 0.07 * strength, size=(4, 2)) * (width, height)
    quad = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float64)
    quad += jitter * np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]])
    roll = np.deg2rad(rng.normal(0, 2.5 * strength))
    centre = np.array([width / 2, height / 2])
    rot = np.array([[np.cos(roll), -np.sin(roll)], [np.sin(roll), np.cos(roll)]])
    quad = (quad - centre) @ rot.T
    reach = np.max(np.abs(quad) / (centre - 0.5), axis=0).max()
    return (quad / max(1.0, reach) + centre).astype(np.float32)


def _light_field(rng: np.random.Generator, height: int, width: int, strength: float) -> np.ndarray:
    """Brightness multiplier (H, W): a linear ramp plus a few soft pools of lamp light."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * (xx / width - 0.5) + np.sin(angle) * (yy / height - 0.5)).astype(np.float32)
    field = 1.0 + float(rng.uniform(0.2, 0.6)) * min(strength, 1.5) * ramp
    for _k in range(int(rng.integers(0, 3))):
        cx, cy = rng.uniform(0, width), rng.uniform(-0.2, 0.8) * height
        radius = rng.uniform(0.2, 0.6) * max(height, width)
        field += float(rng.uniform(0.1, 0.35)) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * radius**2))
    return field


def _shadow_field(rng: np.random.Generator, height: int, width: int, strength: float) -> np.ndarray:
    """Brightness multiplier (H, W) with one to three soft cast shadows (bands or blobs)."""
    shade = np.zeros((height, width), dtype=np.float32)
    scale = min(height, width)
    for _k in range(int(rng.integers(1, 4))):
        if rng.random() < 0.6:  # a band: the shadow of a beam, an upright or a railing
            p = rng.uniform(0, 1, size=2) * (width, height)
            angle = rng.uniform(0, np.pi)
            d = np.array([np.cos(angle), np.sin(angle)]) * 2 * max(height, width)
            cv2.line(
                shade,
                tuple(int(v) for v in p - d),
                tuple(int(v) for v in p + d),
                1.0,
                max(2, int(rng.uniform(0.03, 0.2) * scale)),
            )
        else:  # a blob: a person or a machine out of frame
            centre = tuple(int(v) for v in rng.uniform(0, 1, size=2) * (width, height))
            axes = tuple(int(v) for v in rng.uniform(0.08, 0.35, size=2) * scale)
            cv2.ellipse(shade, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    soft = max(3, int(scale * rng.uniform(0.01, 0.05)) | 1)
    blurred = np.asarray(cv2.GaussianBlur(shade, (0, 0), soft), dtype=np.float32)
    return 1.0 - float(rng.uniform(0.2, 0.5)) * min(strength, 1.5) * np.clip(blurred, 0, 1)


def _motion_blur(rng: np.random.Generator, img: np.ndarray, strength: float) -> np.ndarray:
    length = max(3, int(rng.uniform(3, 13) * min(strength, 1.5) * min(img.shape[:2]) / 512) | 1)
    line = np.zeros((length, length), dtype=np.float32)
    line[length // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), float(rng.uniform(0, 180)), 1.0)
    kernel = np.asarray(cv2.warpAffine(line, rot, (length, length)), dtype=np.float32)
    return cv2.filter2D(img, -1, kernel / max(kernel.sum(), 1e-6), borderType=cv2.BORDER_REFLECT)


def _defocus(rng: np.random.Generator, img: np.ndarray, strength: float) -> np.ndarray:
    radius = max(1, int(round(rng.uniform(1, 3.5) * min(strength, 1.5) * min(img.shape[:2]) / 512)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)).astype(np.float32)
    return cv2.filter2D(img, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)


def _sensor_noise(rng: np.random.Generator, img: np.ndarray, strength: float) -> np.ndarray:
    height, width = img.shape[:2]
    read = float(rng.uniform(1.0, 5.0)) * strength
    shot = float(rng.uniform(0.0, 0.5)) * strength
    luma = rng.standard_normal((height, width, 1), dtype=np.float32)
    sigma = read + shot * np.sqrt(np.clip(img, 0, 255))
    out = img + sigma * luma
    if rng.random() < 0.5:  # chroma noise, blotchy as after demosaicing
        chroma = rng.standard_normal((height // 2 + 1, width // 2 + 1, 3), dtype=np.float32) * read * 0.6
        out += cv2.resize(chroma, (width, height), interpolation=cv2.INTER_LINEAR)
    return out
