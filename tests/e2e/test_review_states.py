"""States that tell the truth and review that closes the loop, in a real Chromium (issue 30):
the rejection comment reaches the annotator, a reviewer fixes and accepts, nobody accepts their
own submission, pre-labels pending then offered without a conflict, a leased image opens
read-only for others, and a near-duplicate shape drawn with the rectangle tool is offered as a
refinement."""

from __future__ import annotations

import io

import pytest

from annotator.annotations.models import Revision
from annotator.annotations.services import annotations_save, image_review, image_submit
from annotator.projects.ingest import images_ingest
from annotator.projects.models import Image
from tests.conftest import wait_for

from .helpers import (
    PARCELS,
    drag,
    editor_state,
    fake_pre_labels,
    instances,
    parcel_image,
    rect_shape,
    wait_editor_ready,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def upload(project, user, seed: int, *, pre_label: bool) -> Image:
    project.auto_pre_label = pre_label
    project.save(update_fields=["auto_pre_label"])
    report = images_ingest(
        project=project, uploads=[(f"dock_{seed}.png", io.BytesIO(parcel_image(seed=seed)))], user=user
    )
    return report.created[0]


def parcels_set(project, n: int = 2) -> list[dict]:
    category = project.categories.first().id
    return [{"category": category, "shape": rect_shape(x0, y0, x1, y1)} for x0, y0, x1, y1, _ in PARCELS[:n]]


def submitted_by(project, image: Image, user) -> Image:
    image = annotations_save(
        image=image, annotations=parcels_set(project), user=user, expected_version=image.version
    )
    return image_submit(image=image, user=user, expected_version=image.version)


def test_rejection_comment_then_fix_and_accept(open_page, live_server, users, project):
    image = upload(project, users["admin"], 1, pre_label=False)
    image = submitted_by(project, image, users["annotator"])
    image_review(
        image=image,
        user=users["reviewer"],
        decision="reject",
        comment="The second parcel misses its tape edge",
    )

    # The annotator's queue hands the rejected image back, with the reviewer's comment on top.
    andy = open_page("andy_annotator")
    andy.goto(f"{live_server.url}/app/#/projects/{project.id}")  # the image list row says why, too
    note = andy.locator(f"tr[data-image-id='{image.id}']").get_by_test_id("rejection-note")
    note.wait_for()
    assert "The second parcel misses its tape edge" in note.inner_text()
    andy.goto(f"{live_server.url}/app/#/projects/{project.id}/annotate")
    andy.wait_for_url(f"**/#/images/{image.id}/annotate")
    wait_editor_ready(andy)
    banner = andy.get_by_test_id("rejection-banner")
    banner.wait_for()
    assert "Rejected by rita_reviewer" in banner.inner_text()
    assert andy.get_by_test_id("rejection-comment").inner_text() == "The second parcel misses its tape edge"
    andy.keyboard.press("Tab")  # the annotator fixes the second parcel (a nudge) and resubmits
    andy.keyboard.press("Tab")
    andy.keyboard.press("ArrowRight")
    andy.get_by_test_id("save-status").filter(has_text="All changes saved").wait_for()
    andy.get_by_test_id("submit").click()
    wait_for(lambda: Image.objects.get(pk=image.pk).status == "submitted", timeout=30, what="the resubmit")

    # The reviewer deletes a shape (Fix, Tab selects, Delete), and Accept becomes "Fix and accept".
    rita = open_page("rita_reviewer")
    rita.goto(f"{live_server.url}/app/#/images/{image.id}/review")
    wait_editor_ready(rita)
    rita.get_by_test_id("fix").click()
    rita.keyboard.press("Tab")
    rita.keyboard.press("Delete")
    assert len(instances(rita)) == 1
    accept = rita.get_by_test_id("accept")
    assert accept.inner_text() == "Fix and accept (A)"
    accept.click()
    wait_for(
        lambda: Image.objects.get(pk=image.pk).status == "accepted", timeout=30, what="the fix and accept"
    )
    last = list(Revision.objects.filter(image=image).order_by("-version")[:2])
    assert [(r.action, r.author.username) for r in last] == [
        ("accept", "rita_reviewer"),
        ("save", "rita_reviewer"),
    ]
    assert len(last[1].annotations) == 1 and Image.objects.get(pk=image.pk).annotations.count() == 1


def test_the_submitter_is_not_offered_accept(open_page, live_server, users, project):
    image = upload(project, users["admin"], 2, pre_label=False)
    submitted_by(project, image, users["reviewer"])
    rita = open_page("rita_reviewer")
    rita.goto(f"{live_server.url}/app/#/images/{image.id}/review")
    wait_editor_ready(rita)
    rita.get_by_test_id("own-submission").wait_for()
    assert rita.get_by_test_id("accept").count() == 0 and rita.get_by_test_id("fix").count() == 0
    rita.keyboard.press("a")  # the key does nothing either
    rita.wait_for_timeout(300)
    assert Image.objects.get(pk=image.pk).status == "submitted"


def test_pre_labels_pending_then_merged_or_offered_without_a_conflict(open_page, live_server, users, project):
    untouched = upload(project, users["admin"], 3, pre_label=True)
    edited = upload(project, users["admin"], 4, pre_label=True)
    andy = open_page("andy_annotator")

    # Untouched: "pending", then the pre-labels simply appear.
    andy.goto(f"{live_server.url}/app/#/images/{untouched.id}/annotate")
    wait_editor_ready(andy)
    andy.get_by_test_id("prelabels-pending").wait_for()
    assert instances(andy) == []
    fake_pre_labels(project, Image.objects.get(pk=untouched.pk))
    andy.get_by_test_id("prelabels-pending").wait_for(state="detached")
    andy.wait_for_function("() => window.__annotator.store.state.instances.length === 3")
    assert andy.get_by_test_id("conflict-dialog").count() == 0
    assert editor_state(andy, "s.version") == Image.objects.get(pk=untouched.pk).version

    # Edited: the annotator adds a shape (standing in for a drawing tool) and the pre-labels land
    # before it is saved. The save meets them: they are offered, never "someone else saved".
    andy.goto(f"{live_server.url}/app/#/images/{edited.id}/annotate")
    andy.wait_for_function(
        f"() => window.__annotator && window.__annotator.store.state.imageId === {edited.id}"
    )
    wait_editor_ready(andy)
    andy.get_by_test_id("prelabels-pending").wait_for()
    category = project.categories.last().id
    andy.evaluate(
        """([category, shape]) => window.__annotator.store.dispatch((s) => ({ ...s,
             instances: [...s.instances, { key: "mine", category, shape, source: "manual", score: null }],
             past: [...s.past, s.instances], future: [] }))""",
        [category, rect_shape(900, 100, 1000, 200)],
    )
    fake_pre_labels(project, Image.objects.get(pk=edited.pk))
    offer = andy.get_by_test_id("prelabels-offer")
    offer.wait_for()
    assert "3 shape(s)" in offer.inner_text() and andy.get_by_test_id("conflict-dialog").count() == 0
    andy.get_by_test_id("prelabels-add").click()
    andy.get_by_test_id("save-status").filter(has_text="All changes saved").wait_for()
    image = Image.objects.get(pk=edited.pk)
    assert image.annotations.count() == 4 and image.status == "in_progress"
    actions = list(Revision.objects.filter(image=image).order_by("version").values_list("action", flat=True))
    assert actions == ["pre_label", "save"]
    assert andy.get_by_test_id("conflict-dialog").count() == 0


def test_a_leased_image_opens_read_only_for_others(open_page, live_server, users, project):
    image = upload(project, users["admin"], 5, pre_label=False)
    image = annotations_save(
        image=image, annotations=parcels_set(project, 3), user=users["annotator"], expected_version=0
    )
    url = f"{live_server.url}/app/#/images/{image.id}/annotate"
    andy = open_page("andy_annotator")
    andy.goto(url)
    wait_editor_ready(andy)
    andy.get_by_test_id("lease").filter(has_text="Leased until").wait_for()

    alice = open_page("alice_admin")
    alice.goto(url)
    banner = alice.get_by_test_id("read-only-banner")
    banner.wait_for()
    held = Image.objects.get(pk=image.pk)
    assert "andy_annotator is working on this image until" in banner.inner_text()
    assert "3 shapes" in banner.inner_text()
    assert alice.get_by_test_id("submit").count() == 0 and alice.get_by_test_id("save-status").count() == 0
    assert held.lease_user == users["annotator"] and held.version == 1


def coords(shape) -> list[float]:
    return [c for polygon in shape for ring in polygon for point in ring for c in point]


def test_a_near_duplicate_shape_is_offered_as_a_refinement(open_page, live_server, users, project, settings):
    settings.ANNOTATOR = {**settings.ANNOTATOR, "SAM_CHECKPOINT": "", "PROMPT_ENGINE": "default"}
    image = upload(project, users["admin"], 6, pre_label=False)
    image = annotations_save(
        image=image, annotations=parcels_set(project, 2), user=users["annotator"], expected_version=0
    )
    andy = open_page("andy_annotator")
    andy.goto(f"{live_server.url}/app/#/images/{image.id}/annotate")
    wait_editor_ready(andy)
    # The click tool's button says which engine runs, and why.
    assert andy.get_by_test_id("sam-toggle").inner_text() == "Offline engine (S)"
    assert (
        andy.get_by_test_id("engine-reason").inner_text() == "no SAM checkpoint configured (SAM_CHECKPOINT)"
    )
    # The rectangle tool (R), dragged over the first parcel's shape a little inside its outline.
    x0, y0, x1, y1, _ = PARCELS[0]
    before = [i["key"] for i in instances(andy)]
    andy.get_by_test_id("canvas").focus()
    andy.keyboard.press("r")
    drag(andy, (x0 + 4, y0 + 3), (x1 - 2, y1 - 4))
    andy.wait_for_function("() => window.__annotator.store.state.instances.length === 3")
    drawn = instances(andy)[-1]
    assert drawn["source"] == "manual" and drawn["key"] not in before
    offer = andy.get_by_test_id("refine-offer")
    offer.wait_for()
    assert "IoU 0.9" in offer.inner_text() and "Refine #1" in offer.inner_text()
    andy.get_by_test_id("refine-accept").click()
    offer.wait_for(state="detached")
    # One shape remains where there were two: the first parcel's, with the drawn outline.
    after = instances(andy)
    assert [i["key"] for i in after] == before and after[0]["shape"] == drawn["shape"]
    ring = drawn["shape"][0][0]
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    assert abs(min(xs) - (x0 + 4)) < 2 and abs(max(xs) - (x1 - 2)) < 2
    assert abs(min(ys) - (y0 + 3)) < 2 and abs(max(ys) - (y1 - 4)) < 2
    andy.get_by_test_id("save-status").filter(has_text="All changes saved").wait_for()
    saved = list(Image.objects.get(pk=image.pk).annotations.order_by("id").values_list("shape", "source"))
    assert len(saved) == 2 and saved[0][1] == "manual"
    assert coords(saved[0][0]) == pytest.approx(coords(drawn["shape"]), abs=0.01)  # the server rounds
    assert saved[1][0] == rect_shape(*PARCELS[1][:4])  # the other parcel is untouched
