"""Writes on projects: creation with its categories, memberships, and the admin's lease release."""

from datetime import timedelta

import pytest
from django.utils import timezone

from annotator.errors import ApplicationError
from annotator.projects.models import Image, Membership, Project, Role
from annotator.projects.services import images_release_leases, membership_set, project_create
from tests.factories import make_image


@pytest.mark.django_db
def test_a_project_with_a_category_listed_twice_is_refused_and_nothing_is_created(users):
    with pytest.raises(ApplicationError, match="Category 'tote' is listed twice") as refused:
        project_create(name="Twice", user=users["admin"], categories=["tote", "bag", "tote"])
    assert refused.value.field == "categories"
    assert not Project.objects.filter(name="Twice").exists()


@pytest.mark.django_db
def test_the_api_answers_a_repeated_category_with_a_400_naming_the_field(users, client_for):
    users["admin"].is_staff = True  # may create projects
    users["admin"].save()
    response = client_for("admin").post(
        "/api/v1/projects", {"name": "Twice", "categories": ["tote", "tote"]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "invalid",
        "message": "Category 'tote' is listed twice",
        "field": "categories",
    }


@pytest.mark.django_db
def test_membership_set_adds_then_changes_a_role(project, users):
    membership_set(project=project, username="oscar_outsider", role=Role.ANNOTATOR)
    membership_set(project=project, username="oscar_outsider", role=Role.REVIEWER)
    assert Membership.objects.get(project=project, user=users["outsider"]).role == Role.REVIEWER
    with pytest.raises(ApplicationError, match="No user named 'nobody'"):
        membership_set(project=project, username="nobody", role=Role.ANNOTATOR)


@pytest.mark.django_db
def test_releasing_leases_frees_only_the_chosen_images(project, users):
    until = timezone.now() + timedelta(minutes=5)
    held = [make_image(project, n, lease_user=users["annotator"], lease_expires_at=until) for n in (1, 2, 3)]
    released = images_release_leases(images=Image.objects.filter(pk__in=[held[0].pk, held[1].pk]))
    assert released == 2
    assert [(i.lease_user_id, i.lease_expires_at) for i in Image.objects.order_by("pk")] == [
        (None, None),
        (None, None),
        (users["annotator"].pk, until),
    ]
