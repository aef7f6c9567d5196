"""Two browsers edit the same image: the later save gets the conflict dialog, and nothing is lost."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.utils import timezone

from annotator.annotations.models import Revision
from annotator.projects.ingest import images_ingest
from annotator.projects.models import Image
from tests.conftest import wait_for

from .helpers import editor_state, fake_pre_labels, instances, parcel_image, wait_editor_ready

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def open_editor(page, url: str) -> None:
    page.goto(url)
    wait_editor_ready(page)


def test_second_browser_gets_conflict_and_loses_nothing(
    fixture_pre_labels, open_page, live_server, celery_worker, users, project
):
    images_ingest(
        project=project, uploads=[("aisle.png", io.BytesIO(parcel_image(seed=5)))], user=users["admin"]
    )
    image = Image.objects.get(project=project)
    wait_for(
        lambda: all(j.done >= j.total for j in project.batch_jobs.all()), timeout=180, what="background jobs"
    )
    if not image.predictions.exists():
        fake_pre_labels(project, image)
    image.refresh_from_db()
    start_version = image.version
    url = f"{live_server.url}/app/#/images/{image.id}/annotate"

    andy = open_page("andy_annotator")
    open_editor(andy, url)
    # Andy's lease lapses (an idle tab), so Alice may open the image to edit it (a live lease would
    # open it read-only for her: test_review_states). Andy's tab still holds his copy; optimistic
    # locking guards the data.
    Image.objects.filter(pk=image.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    alice = open_page("alice_admin")
    open_editor(alice, url)
    alice.get_by_test_id("lease").filter(has_text="Leased until").wait_for()
    assert len(instances(andy)) == len(instances(alice)) == 3

    # Andy nudges the first instance 3 px right; autosave stores it.
    andy.keyboard.press("Tab")
    for _ in range(3):
        andy.keyboard.press("ArrowRight")
    andy.get_by_test_id("save-status").filter(has_text="All changes saved").wait_for()
    image.refresh_from_db()
    assert image.version == start_version + 1
    andy_shape = instances(andy)[0]["shape"]

    # Alice, still on the old version, deletes the first instance: her save is refused.
    alice.keyboard.press("Tab")
    alice.keyboard.press("Delete")
    dialog = alice.get_by_test_id("conflict-dialog")
    dialog.wait_for()
    assert "Someone else saved this image" in dialog.inner_text()
    assert f"version {start_version + 1}" in dialog.inner_text()
    assert alice.get_by_test_id("save-status").inner_text().startswith("Conflict")
    assert len(instances(alice)) == 2, "her edit is still on screen"
    assert editor_state(alice, "s.instances !== s.saved"), "and still marked unsaved"
    image.refresh_from_db()
    assert image.version == start_version + 1 and image.annotations.count() == 3

    # Reload shows Andy's version; Ctrl+Z brings Alice's own edit back, and it saves.
    alice.get_by_test_id("conflict-reload").click()
    dialog.wait_for(state="detached")
    assert [i["shape"] for i in instances(alice)][0] == andy_shape
    alice.keyboard.press("Control+z")
    assert len(instances(alice)) == 2
    alice.get_by_test_id("save-status").filter(has_text="All changes saved").wait_for()
    image.refresh_from_db()
    assert image.version == start_version + 2 and image.annotations.count() == 2

    # Andy edits again on his stale copy: he gets the dialog and overwrites on purpose.
    andy.keyboard.press("ArrowDown")
    andy.get_by_test_id("conflict-dialog").wait_for()
    andy.keyboard.press("o")  # the dialog's keyboard shortcut for "Overwrite with mine"
    andy.get_by_test_id("save-status").filter(has_text="All changes saved").wait_for()
    image.refresh_from_db()
    assert image.version == start_version + 3 and image.annotations.count() == 3

    # Every version anyone saved is in the revision history.
    saves = list(Revision.objects.filter(image=image).order_by("version").values_list("version", flat=True))
    assert saves[-3:] == [start_version + 1, start_version + 2, start_version + 3]
    alice_rev = Revision.objects.get(image=image, version=start_version + 2)
    assert len(alice_rev.annotations) == 2
