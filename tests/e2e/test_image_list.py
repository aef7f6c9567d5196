"""Find any image in a real Chromium: page through 30 thumbnails, filter and search, open one,
and walk the filtered list with previous / next in the annotate view, which saves an edit first."""

from __future__ import annotations

import io
import re

import pytest

from annotator.annotations.models import Annotation
from annotator.projects.ingest import images_ingest
from annotator.projects.models import Image

from .conftest import save_screenshot
from .helpers import fake_pre_labels, parcel_image, wait_editor_ready

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def thirty_images(project, users):
    """30 uploads, dock_00 … dock_29 (the odd ones named yard_); every 3rd rejected, 0, 6, 12 pre-labelled."""
    uploads = [
        (f"{'yard' if n % 2 else 'dock'}_{n:02d}.png", io.BytesIO(parcel_image(seed=n))) for n in range(30)
    ]
    report = images_ingest(project=project, uploads=uploads, user=users["admin"])
    assert len(report.created) == 30, report.as_dict()
    images = list(Image.objects.filter(project=project).order_by("id"))
    for n in (0, 6, 12):
        fake_pre_labels(project, images[n])
    Image.objects.filter(pk__in=[i.pk for n, i in enumerate(images) if n % 3 == 0]).update(status="rejected")
    return images


def cards(page):
    return page.get_by_test_id("image-list").locator("li.image-card")


def test_page_filter_search_then_previous_and_next_in_the_annotate_view(
    open_page, live_server, project, thirty_images
):
    images = thirty_images
    page = open_page("andy_annotator")
    page.goto(f"{live_server.url}/app/#/projects/{project.id}")
    page.get_by_test_id("open-images").click()

    # --- pages of 24 thumbnails
    page.get_by_test_id("page-info").filter(has_text="Page 1 of 2 · 30 images").wait_for()
    assert cards(page).count() == 24
    first_thumb = cards(page).first.locator("img")
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=first_thumb.element_handle())
    assert first_thumb.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [256, 192]
    page.get_by_test_id("page-next").click()
    page.get_by_test_id("page-info").filter(has_text="Page 2 of 2").wait_for()
    assert cards(page).count() == 6
    assert "page=2" in page.url

    # --- filter by status, then search by name: the filter rides in the URL
    page.get_by_test_id("filter-status").select_option("rejected")
    page.get_by_test_id("page-info").filter(has_text="Page 1 of 1 · 10 images").wait_for()
    page.get_by_test_id("filter-q").fill("dock")
    page.get_by_test_id("filter-q").press("Enter")
    page.get_by_test_id("page-info").filter(has_text="5 images").wait_for()  # 0, 6, 12, 18, 24
    assert [int(c.get_attribute("data-image-id")) for c in cards(page).all()] == [
        images[n].id for n in (0, 6, 12, 18, 24)
    ]
    page.get_by_test_id("filter-has_pre_labels").select_option("true")
    page.get_by_test_id("page-info").filter(has_text="3 images").wait_for()
    assert "status=rejected" in page.url and "q=dock" in page.url and "has_pre_labels=true" in page.url
    page.wait_for_function(
        "() => [...document.querySelectorAll('.image-card img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    save_screenshot(page, "image-list.png")

    # --- open the first: position 1 of 3; delete a pre-label, then Alt+→ saves and moves on
    cards(page).first.locator("a").click()
    page.wait_for_url(re.compile(rf".*#/images/{images[0].id}/annotate\?.*has_pre_labels=true"))
    wait_editor_ready(page)
    page.get_by_test_id("image-position").filter(has_text="1 / 3").wait_for()
    assert Annotation.objects.filter(image=images[0]).count() == 3
    page.locator("canvas").first.click(position={"x": 5, "y": 5})  # focus the editor, on no shape
    page.keyboard.press("Tab")
    page.keyboard.press("Delete")
    page.keyboard.press("Alt+ArrowRight")
    page.wait_for_url(re.compile(rf".*#/images/{images[6].id}/annotate\?"))
    assert Annotation.objects.filter(image=images[0]).count() == 2, "the edit was saved before moving on"
    wait_editor_ready(page)
    # the saved image is in progress now, so it left the list of rejected ones
    page.get_by_test_id("image-position").filter(has_text="1 / 2").wait_for()
    assert Image.objects.get(pk=images[0].pk).status == "in_progress"
    assert page.get_by_test_id("image-previous").is_disabled()

    # --- Page Down, then the button back
    page.keyboard.press("PageDown")
    page.wait_for_url(re.compile(rf".*#/images/{images[12].id}/annotate\?"))
    wait_editor_ready(page)
    page.get_by_test_id("image-position").filter(has_text="2 / 2").wait_for()
    assert page.get_by_test_id("image-next").is_disabled()
    page.get_by_test_id("image-previous").click()
    page.wait_for_url(re.compile(rf".*#/images/{images[6].id}/annotate\?"))
    wait_editor_ready(page)

    # --- Page Up and Alt+← on the list's first image stay; the help overlay lists the keys
    page.get_by_test_id("image-position").filter(has_text="1 / 2").wait_for()
    page.keyboard.press("PageUp")
    page.get_by_text("This is the first image of the list.").first.wait_for()
    # Alt+← is the browser's Back too (which would go to image 12): the view keeps it
    page.keyboard.press("Alt+ArrowLeft")
    page.get_by_text("This is the first image of the list.").nth(1).wait_for()
    assert f"#/images/{images[6].id}/annotate" in page.url
    page.keyboard.press("?")
    help_text = page.locator("#shortcut-help").inner_text()
    assert "alt+arrowright / pagedown" in help_text and "Next image in the list" in help_text
