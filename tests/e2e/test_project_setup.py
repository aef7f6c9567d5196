"""Project set-up in a real Chromium: create a project with its categories and a member (a bad
username first, refused where it was typed), edit categories and members on the set-up page, and
start an export with its options."""

from __future__ import annotations

import re

import pytest

from annotator.datasets.models import ExportJob
from annotator.projects.models import Project

from .conftest import save_screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_create_a_project_with_categories_and_a_member_then_edit_them(open_page, live_server, users):
    staff = users["admin"]
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    page = open_page("alice_admin")
    page.on("dialog", lambda dialog: dialog.accept())

    # --- the create form: five default categories to start from; keep two, rename one, add one first
    form = page.get_by_test_id("create-project")
    page.get_by_test_id("new-project-name").fill("Dock 9")
    rows = form.get_by_test_id("new-categories").locator("tr")
    assert rows.count() == 5
    for _ in range(3):
        rows.nth(2).get_by_role("button", name="Remove this row").click()
    rows.nth(1).get_by_test_id("category-name-input").fill("mailer")
    page.get_by_test_id("add-category-row").click()
    rows.nth(2).get_by_test_id("category-name-input").fill("tote")
    rows.nth(2).get_by_test_id("category-color-input").fill("#123456")
    rows.nth(2).get_by_test_id("category-order-input").fill("0")
    page.get_by_test_id("add-member-row").click()
    member = form.get_by_test_id("new-members").locator("tr").first
    member.get_by_test_id("member-username-input").fill("andy_annotatr")  # a typo first
    member.get_by_test_id("member-role-input").select_option("reviewer")
    page.get_by_test_id("create-project-submit").click()

    page.get_by_test_id("create-error").filter(has_text="No user named 'andy_annotatr'").wait_for()
    assert "invalid" in (member.get_by_test_id("member-username-input").get_attribute("class") or "")
    save_screenshot(page, "project-create.png")
    assert not Project.objects.filter(name="Dock 9").exists()

    member.get_by_test_id("member-username-input").fill("andy_annotator")
    page.get_by_test_id("create-project-submit").click()
    page.wait_for_url(re.compile(r".*#/projects/\d+$"))
    project = Project.objects.get(name="Dock 9")
    assert [(c.name, c.color, c.export_id) for c in project.categories.all()] == [
        ("tote", "#123456", 1),
        ("cardboard_box", "#c8842c", 2),
        ("mailer", "#e6c229", 3),
    ]
    assert dict(project.memberships.values_list("user__username", "role")) == {
        "alice_admin": "admin",
        "andy_annotator": "reviewer",
    }

    # --- the set-up page: rename, move, add a category; change a role; the last admin stays
    page.get_by_test_id("open-settings").click()
    page.wait_for_url(f"**/#/projects/{project.id}/settings")
    box = page.locator(f'[data-category-id="{project.categories.get(name="cardboard_box").id}"]')
    box.get_by_test_id("category-name").fill("carton")
    box.get_by_test_id("category-save").click()
    page.get_by_test_id("category-status").filter(has_text="Saved 'carton'").wait_for()
    page.get_by_role("button", name="Move carton up").click()
    page.get_by_test_id("category-status").filter(has_text="Order saved").wait_for()
    page.get_by_test_id("new-category-name").fill("pallet")
    page.get_by_test_id("add-category").click()
    page.get_by_test_id("category-status").filter(has_text="Added 'pallet'").wait_for()
    assert [(c.name, c.export_id) for c in project.categories.all()] == [
        ("carton", 2),
        ("tote", 1),
        ("mailer", 3),
        ("pallet", 4),
    ]

    page.locator('[data-username="andy_annotator"]').get_by_test_id("member-role").select_option("admin")
    page.get_by_test_id("member-status").filter(has_text="andy_annotator is now admin").wait_for()
    page.locator('[data-username="andy_annotator"]').get_by_test_id("member-role").select_option("annotator")
    page.get_by_test_id("member-status").filter(has_text="andy_annotator is now annotator").wait_for()
    page.locator('[data-username="alice_admin"]').get_by_test_id("member-role").select_option("reviewer")
    page.get_by_test_id("member-status").filter(has_text="only admin").wait_for()
    assert (
        page.locator('[data-username="alice_admin"]').get_by_test_id("member-role").input_value() == "admin"
    )
    page.get_by_test_id("new-member-username").fill("rita_reviewer")
    page.get_by_test_id("new-member-role").select_option("reviewer")
    page.get_by_test_id("add-member").click()
    page.get_by_test_id("member-status").filter(has_text="Added rita_reviewer").wait_for()
    assert dict(project.memberships.values_list("user__username", "role")) == {
        "alice_admin": "admin",
        "andy_annotator": "annotator",
        "rita_reviewer": "reviewer",
    }

    # --- export options: RLE, the JSON alone, submitted and accepted images
    page.goto(f"{live_server.url}/app/#/projects/{project.id}")
    page.get_by_test_id("open-export").click()
    page.get_by_test_id("export-rle").check()
    page.get_by_test_id("export-images").uncheck()
    page.get_by_test_id("export-status-submitted").check()
    page.get_by_test_id("export-start").click()
    page.get_by_test_id("export-message").filter(has_text="started").wait_for()
    job = ExportJob.objects.get(project=project)
    assert (job.options["segmentation"], job.options["include_images"], job.options["statuses"]) == (
        "rle",
        False,
        ["accepted", "submitted"],
    )
    page.locator(f'[data-export-id="{job.id}"]').filter(
        has_text="RLE · JSON only · accepted, submitted"
    ).wait_for()
