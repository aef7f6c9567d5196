"""The trust gate in a real Chromium (issue 28): the confidence slider hides low-score pre-labels, an
admin pins suggestion mode, a suggestion taken by key joins the set and is saved, and the dashboard
shows the gate's sentence."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.base import ContentFile

from annotator.learning.models import Prediction, TrustGatePin
from annotator.learning.prelabels import prediction_show
from annotator.learning.trust import prelabel_policy
from annotator.projects.models import Image
from tests.conftest import wait_for
from tests.factories import make_active_version

from .conftest import save_screenshot
from .helpers import HEIGHT, PARCELS, WIDTH, instances, parcel_image, rect_shape, to_page, wait_editor_ready

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SET_SLIDER = """(v) => { const s = document.querySelector('[data-testid="score-slider"]');
  s.value = String(v); s.dispatchEvent(new Event('input', { bubbles: true })); }"""


def predicted_image(project, version, seed: int, scores: list[float]) -> Image:
    """A stored parcel photo the version predicted (one shape per parcel, with ``scores``), shown as the gate says."""
    data = parcel_image(seed=seed)
    sha = hashlib.sha256(data).hexdigest()
    image = Image(
        project=project, name=f"dock_{seed}.png", sha256=sha, file_ext="png", width=WIDTH, height=HEIGHT
    )
    image.file.save(f"{sha}.png", ContentFile(data), save=False)
    image.save()
    category = project.categories.get(name="cardboard_box").id
    prediction = Prediction.objects.create(
        image=image,
        model_version=version,
        instances=[
            {
                "category": category,
                "shape": rect_shape(x0 + 4, y0 - 3, x1 - 5, y1 + 4),
                "score": score,
                "source": "model",
            }
            for (x0, y0, x1, y1, _), score in zip(PARCELS, scores, strict=False)
        ],
    )
    prediction_show(
        image=image, prediction=prediction, policy=prelabel_policy(project=project, version=version)
    )
    image.refresh_from_db()
    return image


def saved_set(image: Image) -> list[tuple]:
    return sorted((a.source, a.score) for a in Image.objects.get(pk=image.pk).annotations.all())


def test_slider_suggestions_and_the_gate_sentence(open_page, live_server, users, project, tmp_path):
    version = make_active_version(project)
    first = predicted_image(project, version, 0, [0.93, 0.76, 0.58])
    assert [a[0] for a in saved_set(first)] == ["model"] * 3  # the calibrated default: pre-labels

    # --- the slider hides the low-score pre-labels, and sliding back brings them again -------------
    page = open_page("alice_admin")
    page.goto(f"{live_server.url}/app/#/images/{first.id}/annotate")
    wait_editor_ready(page)
    model_list = page.locator('[data-testid="instance-list"] li[data-source="model"]')
    assert model_list.count() == 3
    page.evaluate(SET_SLIDER, 0.8)
    page.wait_for_function("() => window.__annotator.store.state.instances.length === 1")
    assert model_list.count() == 1 and [i["score"] for i in instances(page)] == [0.93]
    page.get_by_test_id("save-status").filter(has_text="All changes saved").wait_for()
    assert saved_set(first) == [("model", 0.93)]
    page.evaluate(SET_SLIDER, 0.55)
    page.wait_for_function("() => window.__annotator.store.state.instances.length === 3")
    page.get_by_test_id("save-status").filter(has_text="All changes saved").wait_for()
    assert saved_set(first) == [("model", 0.58), ("model", 0.76), ("model", 0.93)]

    # --- the dashboard: the gate's sentence; the admin pins suggestion mode -------------------------
    page.goto(f"{live_server.url}/app/#/projects/{project.id}")
    # No worker here: the gate is never computed, and the dashboard says it is being learned.
    reason = page.get_by_test_id("trust-gate-reason")
    reason.filter(has_text="being learned from the project's reviewed images").wait_for()
    assert "calibrated default 0.50" in reason.inner_text()
    assert page.get_by_test_id("trust-gate-mode").inner_text() == "Pre-labels"
    page.get_by_test_id("setting-gate-mode").select_option("suggest")
    page.get_by_test_id("gate-pin-save").click()
    page.get_by_test_id("gate-pin-status").filter(has_text="Saved").wait_for()
    page.get_by_test_id("trust-gate-pinned").filter(
        has_text="Pinned by alice_admin: suggestions at 0.50"
    ).wait_for()
    page.get_by_test_id("trust-gate").scroll_into_view_if_needed()
    save_screenshot(page, "trust-gate-dashboard.png")
    page.get_by_test_id("setting-gate-threshold").fill("2")
    page.get_by_test_id("gate-pin-save").click()
    page.get_by_test_id("gate-pin-status").filter(has_text="between 0 and 1").wait_for()

    # --- suggestion mode: ghosts, taken by key, saved as the model's shapes -------------------------
    second = predicted_image(project, version, 1, [0.91, 0.72, 0.3])
    assert saved_set(second) == []  # suggestions stay in the prediction
    page.goto(f"{live_server.url}/app/#/images/{second.id}/annotate")
    wait_editor_ready(page)
    suggestions = page.locator('[data-testid="suggestion-list"] li')
    suggestions.first.wait_for()
    assert suggestions.count() == 2  # 0.91 and 0.72 reach the gate's 0.50; 0.30 does not
    save_screenshot(page, "trust-gate-suggestions.png")
    page.evaluate(SET_SLIDER, 0.8)
    wait_for(lambda: suggestions.count() == 1, timeout=10, what="the slider to hide the 0.72 suggestion")
    page.get_by_test_id("canvas").focus()
    page.keyboard.press("a")
    page.wait_for_function("() => window.__annotator.store.state.instances.length === 1")
    assert [(i["source"], i["score"]) for i in instances(page)] == [("model", 0.91)]
    page.get_by_test_id("save-status").filter(has_text="All changes saved").wait_for()
    assert saved_set(second) == [("model", 0.91)]

    page.evaluate(SET_SLIDER, 0.2)
    wait_for(lambda: suggestions.count() == 2, timeout=10, what="the lower suggestions to show")
    x0, y0, x1, y1, _ = PARCELS[2]  # a click on the 0.30 outline highlights it; X rejects it
    page.mouse.click(*to_page(page, (x0 + x1) / 2, (y0 + y1) / 2))
    page.locator('[data-testid="suggestion-list"] li.selected[data-score="0.3"]').wait_for()
    page.keyboard.press("x")
    wait_for(lambda: suggestions.count() == 1, timeout=10, what="the rejected suggestion to go")
    page.keyboard.press("Shift+A")
    page.wait_for_function("() => window.__annotator.store.state.instances.length === 2")
    page.get_by_test_id("save-status").filter(has_text="All changes saved").wait_for()
    assert saved_set(second) == [("model", 0.72), ("model", 0.91)]


def test_a_rejected_suggestion_stays_hidden_and_hidden_categories_hide_suggestions(
    open_page, live_server, users, project
):
    version = make_active_version(project)
    TrustGatePin.objects.create(project=project, mode="suggest")
    image = predicted_image(project, version, 2, [0.91, 0.72, 0.64])
    before = (saved_set(image), image.version, image.status)
    assert before[0] == []

    page = open_page("andy_annotator")
    page.goto(f"{live_server.url}/app/#/images/{image.id}/annotate")
    wait_editor_ready(page)
    suggestions = page.locator('[data-testid="suggestion-list"] li')
    suggestions.first.wait_for()
    assert suggestions.count() == 3

    # --- hiding the category hides its outlines; the keys no longer take them ----------------------
    box = project.categories.get(name="cardboard_box").id
    ghosts = "() => window.__annotator.modelShapes.ghosts(window.__annotator.store.state).length"
    page.get_by_test_id(f"category-visible-{box}").uncheck()
    wait_for(lambda: suggestions.count() == 0, timeout=10, what="the hidden category's suggestions to go")
    assert page.evaluate(ghosts) == 0
    page.get_by_test_id("canvas").focus()
    page.keyboard.press("Shift+A")
    page.keyboard.press("a")
    assert page.evaluate("() => window.__annotator.store.state.instances.length") == 0
    page.get_by_test_id(f"category-visible-{box}").check()
    wait_for(lambda: suggestions.count() == 3, timeout=10, what="the suggestions to come back")
    assert page.evaluate(ghosts) == 3

    # --- X rejects the highlighted one; the server keeps it, the set does not change ---------------
    x0, y0, x1, y1, _ = PARCELS[1]  # the 0.72 suggestion
    page.mouse.click(*to_page(page, (x0 + x1) / 2, (y0 + y1) / 2))
    page.locator('[data-testid="suggestion-list"] li.selected[data-score="0.72"]').wait_for()
    page.keyboard.press("x")
    wait_for(lambda: suggestions.count() == 2, timeout=10, what="the rejected suggestion to go")
    wait_for(
        lambda: Prediction.objects.get(image=image).rejected == [1],
        timeout=10,
        what="the server to remember the rejection",
    )

    # --- the next visit: still hidden ------------------------------------------------------------------
    page.reload()
    wait_editor_ready(page)
    suggestions.first.wait_for()
    assert suggestions.count() == 2
    assert sorted(float(s) for s in suggestions.evaluate_all("els => els.map(e => e.dataset.score)")) == [
        0.64,
        0.91,
    ]
    assert page.evaluate(ghosts) == 2
    image.refresh_from_db()
    assert (saved_set(image), image.version, image.status) == before  # nothing in the set changed
