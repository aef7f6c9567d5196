"""Project set-up in the app: create with categories and members in one call, then edit them on the
project page (rename, recolour, reorder, add, remove; add, re-role, remove members), with the rules
that a used category stays and a project keeps an admin."""

import pytest

from annotator.annotations.models import Annotation
from annotator.annotations.services import annotations_save
from annotator.projects.models import Category, Membership, Project, Role
from tests.factories import make_image, square_shape

pytestmark = pytest.mark.django_db

GOOD = {
    "name": "Dock 4",
    "description": "night shift",
    "categories": [
        {"name": "tote", "color": "#112233", "order": 2},
        {"name": "cardboard_box", "color": "#abcdef", "order": 1},
        {"name": "pallet", "order": 3},
    ],
    "members": [
        {"username": "rita_reviewer", "role": "reviewer"},
        {"username": "andy_annotator", "role": "annotator"},
    ],
}


@pytest.fixture
def creator(client_for, users):
    """alice_admin as someone who may create projects: staff (or a member of the group the settings name)."""
    users["admin"].is_staff = True
    users["admin"].save(update_fields=["is_staff"])
    return client_for("admin")


def test_create_takes_categories_in_their_order_and_members_with_roles(creator, users):
    response = creator.post("/api/v1/projects", GOOD, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert [(c["name"], c["color"], c["export_id"], c["position"]) for c in body["categories"]] == [
        ("cardboard_box", "#abcdef", 1, 1),
        ("tote", "#112233", 2, 2),
        ("pallet", Category.objects.get(name="pallet").color, 3, 3),
    ]
    assert body["role"] == "admin"
    project = Project.objects.get(pk=body["id"])
    assert project.description == "night shift"
    assert dict(project.memberships.values_list("user__username", "role")) == {
        "alice_admin": "admin",
        "rita_reviewer": "reviewer",
        "andy_annotator": "annotator",
    }
    # the universal mapping follows the names it knows
    assert dict(project.categories.values_list("name", "universal_name")) == {
        "cardboard_box": "cardboard_box",
        "tote": "",
        "pallet": "",
    }


def test_plain_category_names_still_create_a_project(creator):
    response = creator.post("/api/v1/projects", {"name": "Names", "categories": ["a", "b"]}, format="json")
    assert response.status_code == 201
    assert [c["name"] for c in response.json()["categories"]] == ["a", "b"]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": "  "}, "name", "name: This field may not be blank."),
        ({"categories": [{"name": "tote"}, {"name": ""}]}, "categories[1].name", "Category 2 needs a name"),
        (
            {"categories": [{"name": "tote", "color": "red"}]},
            "categories[0].color",
            "Category 'tote': colour 'red' is not #rrggbb",
        ),
        (
            {"categories": [{"name": "tote", "order": "first"}]},
            "categories[0].order",
            "Category 'tote': order must be a number",
        ),
        (
            {"categories": [{"name": "Tote"}, {"name": "tote"}]},
            "categories",
            "Category 'Tote' is listed twice",
        ),
        ({"categories": [7]}, "categories[0]", "categories[0] must be a name or an object with a name"),
        (
            {"members": [{"username": "nobody", "role": "annotator"}]},
            "members[0].username",
            "No user named 'nobody'",
        ),
        (
            {"members": [{"username": "andy_annotator", "role": "boss"}]},
            "members[0].role",
            "'andy_annotator': unknown role 'boss'; use one of admin, reviewer, annotator",
        ),
        (
            {"members": [{"username": "andy_annotator", "role": "annotator"}] * 2},
            "members[1].username",
            "'andy_annotator' is listed twice",
        ),
        (
            {"members": [{"username": "alice_admin", "role": "annotator"}]},
            "members[0].role",
            "You create the project, so you are its admin; leave yourself out of the members",
        ),
    ],
)
def test_a_bad_entry_is_a_400_naming_it_and_nothing_is_written(creator, change, field, message):
    before = (Project.objects.count(), Category.objects.count(), Membership.objects.count())

    response = creator.post("/api/v1/projects", {**GOOD, **change}, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["message"], error["field"]) == ("invalid", message, field)
    assert (Project.objects.count(), Category.objects.count(), Membership.objects.count()) == before


# --------------------------------------------------------------------------- categories


def test_an_admin_renames_recolours_and_adds_categories_keeping_export_ids(client_for, project):
    admin = client_for("admin")
    box = project.categories.get(name="cardboard_box")

    renamed = admin.patch(
        f"/api/v1/projects/{project.id}/categories/{box.id}",
        {"name": "carton", "color": "#000000"},
        format="json",
    )
    added = admin.post(f"/api/v1/projects/{project.id}/categories", {"name": "tote"}, format="json")

    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["color"], renamed.json()["export_id"]) == (
        "carton",
        "#000000",
        1,
    )
    assert added.status_code == 201
    assert (added.json()["export_id"], added.json()["position"]) == (6, 6)
    assert [c["name"] for c in admin.get(f"/api/v1/projects/{project.id}").json()["categories"]][-1] == "tote"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [({"name": " "}, 400, "name"), ({"color": "#12345g"}, 400, "color"), ({"name": "envelope"}, 409, "name")],
)
def test_a_bad_category_change_names_the_field_and_changes_nothing(client_for, project, body, status, field):
    box = project.categories.get(name="cardboard_box")
    response = client_for("admin").patch(
        f"/api/v1/projects/{project.id}/categories/{box.id}", body, format="json"
    )
    assert response.status_code == status
    assert response.json()["error"]["field"] == field
    box.refresh_from_db()
    assert (box.name, box.color) == ("cardboard_box", "#c8842c")


def test_reordering_changes_the_palette_order_not_the_export_ids(client_for, project):
    ids = list(project.categories.values_list("id", flat=True))
    order = [ids[4], ids[0], ids[3], ids[1], ids[2]]

    response = client_for("admin").put(
        f"/api/v1/projects/{project.id}/categories/order", {"order": order}, format="json"
    )

    assert response.status_code == 200
    assert [c["id"] for c in response.json()] == order
    assert list(project.categories.values_list("id", flat=True)) == order
    assert [c.export_id for c in project.categories.all()] == [5, 1, 4, 2, 3]


@pytest.mark.parametrize(
    ("make_order", "message"),
    [
        (lambda ids: ids[:-1], "The order leaves out 'item': list every category once"),
        (lambda ids: [*ids, ids[0]], "A category is listed twice in the order"),
        (lambda ids: [*ids[:-1], 999999], "Category 999999 is not a category of this project"),
    ],
)
def test_an_order_that_is_not_every_category_once_is_refused(client_for, project, make_order, message):
    ids = list(project.categories.values_list("id", flat=True))
    response = client_for("admin").put(
        f"/api/v1/projects/{project.id}/categories/order", {"order": make_order(ids)}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == message
    assert list(project.categories.values_list("id", flat=True)) == ids


def test_a_category_shapes_use_is_not_removed_and_the_shapes_stay(client_for, project, users):
    box = project.categories.get(name="cardboard_box")
    image = make_image(project, 1)
    annotations_save(
        image=image,
        user=users["annotator"],
        expected_version=0,
        annotations=[{"category": box.id, "shape": square_shape(5, 5, 20)} for _ in range(2)],
    )

    response = client_for("admin").delete(f"/api/v1/projects/{project.id}/categories/{box.id}")

    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "category_in_use",
        "message": "'cardboard_box' is used by 2 shapes: give them another category first, then remove it",
        "field": "category",
        "shapes": 2,
    }
    assert Category.objects.filter(pk=box.pk).exists()
    assert Annotation.objects.filter(image=image, category=box).count() == 2


def test_an_unused_category_is_removed_but_never_the_last(client_for, project):
    admin = client_for("admin")
    ids = list(project.categories.values_list("id", flat=True))
    for pk in ids[:-1]:
        assert admin.delete(f"/api/v1/projects/{project.id}/categories/{pk}").status_code == 204

    last = admin.delete(f"/api/v1/projects/{project.id}/categories/{ids[-1]}")

    assert last.status_code == 400
    assert last.json()["error"]["message"] == "A project needs at least one category"
    assert list(project.categories.values_list("id", flat=True)) == [ids[-1]]


def test_only_admins_edit_categories_and_other_projects_categories_are_not_found(client_for, project, users):
    from tests.factories import make_project

    box = project.categories.get(name="cardboard_box")
    url = f"/api/v1/projects/{project.id}/categories/{box.id}"
    assert client_for("reviewer").patch(url, {"name": "x"}, format="json").status_code == 403
    assert client_for("outsider").delete(url).status_code == 404
    other = make_project(admin=users["outsider"], name="Other")
    assert (
        client_for("outsider").delete(f"/api/v1/projects/{other.id}/categories/{box.id}").status_code == 404
    )
    assert Category.objects.filter(pk=box.pk, name="cardboard_box").exists()


# --------------------------------------------------------------------------- members


def test_an_admin_adds_changes_and_removes_members(client_for, project, users):
    admin = client_for("admin")
    members = f"/api/v1/projects/{project.id}/members"

    added = admin.post(members, {"username": "oscar_outsider", "role": "annotator"}, format="json")
    promoted = admin.patch(f"{members}/oscar_outsider", {"role": "reviewer"}, format="json")
    removed = admin.delete(f"{members}/andy_annotator")

    assert (added.status_code, promoted.status_code, removed.status_code) == (200, 200, 204)
    assert admin.get(members).json() == [
        {"username": "alice_admin", "role": "admin"},
        {"username": "oscar_outsider", "role": "reviewer"},
        {"username": "rita_reviewer", "role": "reviewer"},
    ]
    assert client_for("annotator").get(f"/api/v1/projects/{project.id}").status_code == 404


def test_the_last_admin_cannot_be_demoted_or_removed_by_any_route(client_for, project):
    admin = client_for("admin")
    members = f"/api/v1/projects/{project.id}/members"
    message = "'alice_admin' is the project's only admin: make someone else admin first"

    for response in (
        admin.patch(f"{members}/alice_admin", {"role": "reviewer"}, format="json"),
        admin.delete(f"{members}/alice_admin"),
        admin.post(members, {"username": "alice_admin", "role": "annotator"}, format="json"),
    ):
        assert response.status_code == 400
        assert response.json()["error"] == {"code": "last_admin", "message": message, "field": "role"}
    assert project.memberships.get(user__username="alice_admin").role == Role.ADMIN

    # with a second admin, the first may step down
    assert admin.patch(f"{members}/rita_reviewer", {"role": "admin"}, format="json").status_code == 200
    assert admin.patch(f"{members}/alice_admin", {"role": "annotator"}, format="json").status_code == 200


def test_changing_someone_who_is_not_a_member_is_a_404_and_only_admins_change_members(client_for, project):
    members = f"/api/v1/projects/{project.id}/members"
    missing = client_for("admin").patch(f"{members}/oscar_outsider", {"role": "reviewer"}, format="json")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "'oscar_outsider' is not a member of this project"
    assert client_for("reviewer").delete(f"{members}/andy_annotator").status_code == 403
    assert project.memberships.filter(user__username="andy_annotator").exists()


def test_a_category_made_elsewhere_goes_last_in_the_palette(project):
    # the COCO import creates categories with their export id only
    box = project.categories.get(name="cardboard_box")
    box.position = 40
    box.save(update_fields=["position"])
    imported = Category.objects.create(project=project, name="imported", export_id=9)
    assert imported.position == 41
    assert list(project.categories.values_list("name", flat=True))[-2:] == ["cardboard_box", "imported"]
