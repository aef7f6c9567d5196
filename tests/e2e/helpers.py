"""Test data and canvas helpers shared by the browser tests."""

from __future__ import annotations

import io

from PIL import Image as PILImage
from PIL import ImageDraw

# Parcels drawn on each test image, in image pixels: (x0, y0, x1, y1, rgb).
PARCELS = [
    (120, 140, 420, 380, (176, 128, 74)),
    (520, 180, 760, 460, (150, 105, 60)),
    (300, 520, 640, 800, (214, 196, 160)),
    (860, 420, 1120, 700, (120, 160, 210)),
]
WIDTH, HEIGHT = 1200, 900


def parcel_image(seed: int = 0, fmt: str = "PNG") -> bytes:
    """A floor with four flat-coloured parcels; ``seed`` shifts the floor tone so hashes differ."""
    img = PILImage.new("RGB", (WIDTH, HEIGHT), (70 + seed * 3, 72 + seed, 78))
    draw = ImageDraw.Draw(img)
    for i in range(0, WIDTH, 60):  # floor seams, so the background is not perfectly flat
        draw.line([(i, 0), (i, HEIGHT)], fill=(64 + seed * 3, 66 + seed, 72), width=2)
    for x0, y0, x1, y1, rgb in PARCELS:
        draw.rectangle([x0, y0, x1, y1], fill=rgb)
        draw.line([(x0, (y0 + y1) // 2), (x1, (y0 + y1) // 2)], fill=(230, 220, 200), width=6)  # tape
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def rect_shape(x0: float, y0: float, x1: float, y1: float) -> list:
    return [[[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]]]


def fake_pre_labels(project, image) -> None:
    """Model pre-labels written as real Prediction rows (until a base checkpoint ships)."""
    from annotator.annotations.services import image_pre_label
    from annotator.learning.models import Prediction

    cats = list(project.categories.order_by("id"))
    instances = [
        {
            "category": cats[i % 2].id,
            "shape": rect_shape(x0 + 6, y0 - 4, x1 - 8, y1 + 5),
            "score": round(0.93 - 0.17 * i, 2),
            "source": "model",
        }
        for i, (x0, y0, x1, y1, _) in enumerate(PARCELS[:3])
    ]
    Prediction.objects.create(image=image, model_version=None, instances=instances, uncertainty=0.42)
    image.__class__.objects.filter(pk=image.pk).update(uncertainty=0.42)
    image.refresh_from_db()
    image_pre_label(image=image, instances=instances)


# --- in-page helpers (the annotate and review views expose window.__annotator) -----------

TO_PAGE_JS = """([x, y]) => {
  const a = window.__annotator; const r = a.view.canvas.getBoundingClientRect(); const v = a.view.viewport;
  return [r.left + x * v.scale + v.tx, r.top + y * v.scale + v.ty];
}"""


def to_page(page, x: float, y: float) -> tuple[float, float]:
    px, py = page.evaluate(TO_PAGE_JS, [x, y])
    return px, py


def drag(
    page, a: tuple[float, float], b: tuple[float, float], steps: int = 8, modifiers: tuple[str, ...] = ()
) -> None:
    """Press at image point a, move to image point b in steps, release."""
    (ax, ay), (bx, by) = to_page(page, *a), to_page(page, *b)
    for m in modifiers:
        page.keyboard.down(m)
    page.mouse.move(ax, ay)
    page.mouse.down()
    for k in range(1, steps + 1):
        page.mouse.move(ax + (bx - ax) * k / steps, ay + (by - ay) * k / steps)
    page.mouse.up()
    for m in modifiers:
        page.keyboard.up(m)


def instances(page) -> list[dict]:
    return page.evaluate("() => window.__annotator.store.state.instances")


def editor_state(page, expr: str):
    return page.evaluate(f"() => {{ const s = window.__annotator.store.state; return {expr}; }}")


def wait_editor_ready(page) -> None:
    page.wait_for_function("() => window.__annotator && window.__annotator.view.image !== null")
