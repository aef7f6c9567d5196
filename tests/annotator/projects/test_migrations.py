"""Data migrations run on rows written by the schema before them."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("projects", "0003_image_features_model"), ("learning", "0004_retrain_schedule")]
AFTER = [("projects", "0004_image_predicted_instances")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def _back_to_the_latest_schema():
    """Leave the database at the latest migrations (a later migration, e.g. learning 0005, is not in
    AFTER), so the tests after this one see the schema the models expect."""
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_images_scored_before_predicted_instances_get_their_features_model_count(_back_to_the_latest_schema):
    old = _migrate(BEFORE)
    Project, Image = old.get_model("projects", "Project"), old.get_model("projects", "Image")
    ModelVersion, Prediction = (
        old.get_model("learning", "ModelVersion"),
        old.get_model("learning", "Prediction"),
    )
    project = Project.objects.create(name="migrated")
    v1, v2 = (ModelVersion.objects.create(project=project, name=n, checkpoint="/x.pt") for n in ("v1", "v2"))
    scored = Image.objects.create(
        project=project,
        name="a.jpg",
        sha256="a" * 64,
        width=4,
        height=4,
        file="a.jpg",
        features=[1.0],
        features_model=v2,
    )
    Prediction.objects.create(image=scored, model_version=v1, instances=[{}] * 5)  # an older model's
    Prediction.objects.create(image=scored, model_version=v2, instances=[{}] * 3)
    unscored = Image.objects.create(
        project=project, name="b.jpg", sha256="b" * 64, width=4, height=4, file="b.jpg"
    )

    new = _migrate(AFTER)
    Image = new.get_model("projects", "Image")
    assert Image.objects.get(pk=scored.pk).predicted_instances == 3  # the features model's, not v1's
    assert Image.objects.get(pk=unscored.pk).predicted_instances is None


@pytest.mark.django_db(transaction=True)
def test_categories_made_before_positions_keep_their_export_order(_back_to_the_latest_schema):
    old = _migrate([("projects", "0004_image_predicted_instances")])
    Project, Category = old.get_model("projects", "Project"), old.get_model("projects", "Category")
    project = Project.objects.create(name="ordered", slug="ordered")
    for export_id, name in ((2, "bag"), (1, "box"), (3, "tote")):
        Category.objects.create(project=project, name=name, export_id=export_id)

    new = _migrate([("projects", "0005_category_position")])
    Category = new.get_model("projects", "Category")
    assert list(Category.objects.filter(project_id=project.pk).values_list("name", "position")) == [
        ("box", 1),
        ("bag", 2),
        ("tote", 3),
    ]
