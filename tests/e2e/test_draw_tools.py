"""Drawing without the model and working on many shapes at once, in a real Chromium (issue 30):
a polygon and a rectangle drawn by hand, a brush and an eraser stroke on a shape, the zoom
read-out, multi-selection (Shift-click, a rubber band), bulk delete and re-class, locks,
"delete all model shapes", hidden categories, the label and opacity settings; every edit is
checked in the database after autosave."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.base import ContentFile

from annotator.projects.models import Image

from .conftest import save_screenshot
from .helpers import (
    HEIGHT,
    PARCELS,
    WIDTH,
    drag,
    editor_state,
    fake_pre_labels,
    instances,
    parcel_image,
    to_page,
    wait_editor_ready,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def stored_image(project, seed: int = 0) -> Image:
    """A stored parcel photo with the three fixture pre-labels (no worker needed)."""
    data = parcel_image(seed=seed)
    sha = hashlib.sha256(data).hexdigest()
    image = Image(
        project=project, name=f"dock_{seed}.png", sha256=sha, file_ext="png", width=WIDTH, height=HEIGHT
    )
    image.file.save(f"{sha}.png", ContentFile(data), save=False)
    image.save()
    fake_pre_labels(project, image)
    image.refresh_from_db()
    return image


def shoelace(shape: list) -> float:
    """Area of a MultiPolygon (exteriors minus holes), square image pixels."""
    total = 0.0
    for polygon in shape:
        for k, ring in enumerate(polygon):
            a = sum(ring[i - 1][0] * ring[i][1] - ring[i][0] * ring[i - 1][1] for i in range(len(ring)))
            total += abs(a) / 2 * (1 if k == 0 else -1)
    return total


def same_ring(a: list, b: list) -> bool:
    """The server keeps a person's vertices, rounded to 0.01 px."""
    return len(a) == len(b) and all(
        abs(p[0] - q[0]) <= 0.01 and abs(p[1] - q[1]) <= 0.01 for p, q in zip(a, b, strict=True)
    )


def wait_saved(page) -> None:
    page.wait_for_function(
        "() => window.__annotator.store.state.instances === window.__annotator.store.state.saved"
    )
    page.get_by_test_id("save-status").filter(has_text="All changes saved").wait_for()


def by_key(page, key: str) -> dict:
    return next(i for i in instances(page) if i["key"] == key)


def test_draw_polygon_rectangle_brush_and_eraser(open_page, live_server, users, project):
    image = stored_image(project)
    page = open_page("alice_admin")
    page.goto(f"{live_server.url}/app/#/images/{image.id}/annotate")
    wait_editor_ready(page)
    assert editor_state(page, "s.tool") == "select"
    first = instances(page)[0]
    x0, y0, x1, y1, _ = PARCELS[0]
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + 40

    # --- dragging an unselected shape selects it and leaves it where it is; a second drag moves it -----
    drag(page, (cx, cy), (cx + 80, cy + 50))
    assert by_key(page, first["key"])["shape"] == first["shape"], "an unselected shape must not move"
    assert editor_state(page, "s.selected") == first["key"]
    drag(page, (cx, cy), (cx + 80, cy + 50))
    moved = by_key(page, first["key"])["shape"]
    assert abs(moved[0][0][0][0] - first["shape"][0][0][0][0] - 80) < 3
    page.keyboard.press("Control+z")
    assert by_key(page, first["key"])["shape"] == first["shape"]

    # --- the zoom read-out follows the zoom --------------------------------------------------------
    zoom = page.get_by_test_id("zoom-level")
    fitted = zoom.inner_text()
    assert fitted == f"{round(editor_scale(page) * 100)} %"
    page.keyboard.press("=")
    page.wait_for_function(
        "(t) => document.querySelector('[data-testid=zoom-level]').textContent !== t", arg=fitted
    )
    assert zoom.inner_text() == f"{round(editor_scale(page) * 100)} %"
    page.keyboard.press("f")

    # --- a polygon: click the vertices, click the first one to close ---------------------------------
    page.keyboard.press("l")
    assert editor_state(page, "s.tool") == "polygon"
    px0, py0, px1, py1, _ = PARCELS[3]  # no pre-label on this parcel
    corners = [(px0, py0), (px1, py0), (px1, py1), (px0 + 20, py1)]
    for x, y in corners:
        page.mouse.click(*to_page(page, x, y))
    assert len(editor_state(page, "s.draft")) == 4
    page.keyboard.press("Backspace")  # takes the last vertex back
    assert len(editor_state(page, "s.draft")) == 3
    page.mouse.click(*to_page(page, px0 + 20, py1))
    page.mouse.click(*to_page(page, px0 + 2, py0 + 1))  # on the first vertex: closes
    poly = instances(page)[-1]
    assert len(instances(page)) == 4 and editor_state(page, "s.draft.length") == 0
    assert poly["source"] == "manual" and poly["category"] == editor_state(page, "s.activeCategory")
    ring = poly["shape"][0][0]
    assert len(ring) == 4
    for (x, y), (ex, ey) in zip(ring, corners, strict=True):
        assert abs(x - ex) < 2 and abs(y - ey) < 2

    # --- a rectangle: drag corner to corner ---------------------------------------------------------
    page.keyboard.press("r")
    drag(page, (700, 40), (850, 140))
    rect = instances(page)[-1]
    assert len(instances(page)) == 5 and rect["source"] == "manual"
    assert abs(shoelace(rect["shape"]) - 150 * 100) < 600
    assert editor_state(page, "s.selected") == rect["key"], "the new shape is selected, ready for the brush"

    wait_saved(page)
    saved = list(Image.objects.get(pk=image.pk).annotations.all())
    assert len(saved) == 5
    assert [a.source for a in saved if same_ring(a.shape[0][0], ring)] == ["manual"]
    assert [a.source for a in saved if same_ring(a.shape[0][0], rect["shape"][0][0])] == ["manual"]

    # --- the brush grows the selected shape, the eraser shrinks it --------------------------------------
    page.keyboard.press("b")
    brush0 = editor_state(page, "s.brush")
    for _ in range(3):
        page.keyboard.press("]")
    brush = editor_state(page, "s.brush")
    assert brush > brush0 and page.get_by_test_id("brush-size").inner_text() == f"{brush} px"
    before = shoelace(rect["shape"])
    drag(page, (850, 90), (920, 90), steps=12)
    grown = by_key(page, rect["key"])
    assert shoelace(grown["shape"]) > before + 50 * brush, "the brush adds area"
    page.keyboard.press("e")
    drag(page, (700, 30), (700, 150), steps=12)
    erased = by_key(page, rect["key"])
    assert shoelace(erased["shape"]) < shoelace(grown["shape"]) - 80 * brush / 2, "the eraser takes area away"
    assert len(instances(page)) == 5
    save_screenshot(page, "annotate-draw.png")

    wait_saved(page)
    image.refresh_from_db()
    areas = sorted(a.area for a in image.annotations.all())
    assert any(abs(a - shoelace(erased["shape"])) < 1 for a in areas), (areas, shoelace(erased["shape"]))
    page.keyboard.press("Control+z")
    page.keyboard.press("Control+z")
    assert by_key(page, rect["key"])["shape"] == rect["shape"], "each stroke is one undo step"


def editor_scale(page) -> float:
    return page.evaluate("() => window.__annotator.view.viewport.scale")


def test_many_shapes_at_once(open_page, live_server, users, project):
    image = stored_image(project, seed=1)
    page = open_page("alice_admin")
    page.goto(f"{live_server.url}/app/#/images/{image.id}/annotate")
    wait_editor_ready(page)
    keys = [i["key"] for i in instances(page)]
    centres = [((x0 + x1) / 2, (y0 + y1) / 2 + 40) for x0, y0, x1, y1, _ in PARCELS[:3]]
    count = page.get_by_test_id("selection-count")

    # --- Shift-click adds to the selection, a rubber band selects what it encloses ----------------
    page.mouse.click(*to_page(page, *centres[0]))
    page.keyboard.down("Shift")
    page.mouse.click(*to_page(page, *centres[1]))
    page.keyboard.up("Shift")
    assert count.inner_text() == "2 selected"
    page.mouse.click(*to_page(page, 1180, 20))  # empty canvas: deselects
    assert count.inner_text() == "Nothing selected"
    drag(page, (20, 20), (1180, 880))
    assert count.inner_text() == "3 selected"

    # --- a lock: the locked shape stays through a bulk delete, and cannot be dragged ---------------------
    page.locator(f'[data-testid="instance-list"] li[data-key="{keys[2]}"] [data-testid="lock"]').click()
    assert count.inner_text() == "3 selected (1 locked)"
    page.get_by_test_id("bulk-delete").click()
    assert [i["key"] for i in instances(page)] == [keys[2]]
    wait_saved(page)
    assert Image.objects.get(pk=image.pk).annotations.count() == 1
    locked_shape = instances(page)[0]["shape"]
    drag(page, centres[2], (centres[2][0] + 60, centres[2][1] + 60))
    assert instances(page)[0]["shape"] == locked_shape, "a locked shape does not move"

    # --- undo brings them back; bulk re-class; delete all model shapes (the locked one stays) ------------
    page.keyboard.press("Control+z")
    assert len(instances(page)) == 3
    page.mouse.click(*to_page(page, *centres[0]))
    page.keyboard.down("Shift")
    page.mouse.click(*to_page(page, *centres[1]))
    page.keyboard.up("Shift")
    second = project.categories.order_by("id")[2]
    page.get_by_test_id("bulk-category").select_option(str(second.id))
    assert [i["category"] for i in instances(page)][:2] == [second.id, second.id]
    model_btn = page.get_by_test_id("delete-model-shapes")
    assert model_btn.inner_text() == "Delete all model shapes (2)"
    model_btn.click()
    assert [i["key"] for i in instances(page)] == [keys[2]]
    wait_saved(page)
    assert Image.objects.get(pk=image.pk).annotations.count() == 1
    page.keyboard.press("Control+z")
    wait_saved(page)
    image.refresh_from_db()
    assert sorted(a.category_id for a in image.annotations.all()).count(second.id) == 2

    # --- hide a category: its shapes are not drawn or picked --------------------------------------------
    hidden_cat = instances(page)[2]["category"]
    page.get_by_test_id(f"category-visible-{hidden_cat}").uncheck()
    assert editor_state(page, f"s.hidden.has({hidden_cat})")
    page.get_by_test_id("canvas").focus()  # keys typed into a form control are not shortcuts
    page.keyboard.press("Control+a")
    assert keys[2] not in editor_state(page, "s.group ? s.group.keys : [s.selected]")
    page.get_by_test_id(f"category-visible-{hidden_cat}").check()

    # --- labels and opacity: settings kept in this browser ---------------------------------------------
    page.get_by_test_id("label-mode").select_option("selection")
    page.get_by_test_id("canvas").focus()
    page.keyboard.press("t")  # cycles on: always
    assert editor_state(page, "s.labels") == "always"
    page.get_by_test_id("label-mode").select_option("hover")
    page.evaluate(
        "() => { const s = document.querySelector('[data-testid=opacity]'); s.value = '50'; s.dispatchEvent(new Event('input', { bubbles: true })); }"
    )
    assert editor_state(page, "s.opacity") == 0.5
    page.reload()
    wait_editor_ready(page)
    assert editor_state(page, "s.labels") == "hover" and editor_state(page, "s.opacity") == 0.5

    # --- the keyboard overlay lists the new keys -------------------------------------------------------
    page.get_by_test_id("canvas").focus()
    page.keyboard.press("?")
    listed = page.locator("#shortcut-help kbd").all_inner_texts()
    new_keys = ["v", "l", "r", "b", "e", "k", "t", "ctrl+a", "shift+click", "drag on empty canvas", "] / ["]
    for key in new_keys:
        assert key in listed, (key, listed)
