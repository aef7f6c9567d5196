"""Every REST endpoint, one view per operation."""

from django.urls import path

from annotator.annotations import apis as annotations
from annotator.datasets import apis as datasets
from annotator.learning import apis as learning
from annotator.learning import trust_apis as trust
from annotator.projects import apis as projects
from annotator.projects import setup_apis as setup
from annotator.projects.thumbnail_apis import ImageThumbnailApi
from annotator.prompting.apis import PromptEngineApi, SegmentApi
from annotator.universal import apis as universal
from annotator.web import image_apis as image_search
from annotator.web.apis import MeApi, ProjectStatsApi
from annotator.web.sign_in import TokenApi

urlpatterns = [
    path("auth/token", TokenApi.as_view(), name="api-token"),
    path("me", MeApi.as_view(), name="me"),
    path("projects", projects.ProjectListApi.as_view(), name="project-list"),
    path("projects/<int:project_id>", projects.ProjectDetailApi.as_view(), name="project-detail"),
    path("projects/<int:project_id>/stats", ProjectStatsApi.as_view(), name="project-stats"),
    path("projects/<int:project_id>/members", projects.MembershipApi.as_view(), name="project-members"),
    path("projects/<int:project_id>/categories", projects.CategoryListApi.as_view(), name="category-list"),
    path("projects/<int:project_id>/images", projects.ImageListApi.as_view(), name="image-list"),
    # project set-up on the project page; "find any image"
    path(
        "projects/<int:project_id>/categories/order", setup.CategoryOrderApi.as_view(), name="category-order"
    ),
    path(
        "projects/<int:project_id>/categories/<int:category_id>",
        setup.CategoryDetailApi.as_view(),
        name="category-detail",
    ),
    path(
        "projects/<int:project_id>/members/<str:username>",
        setup.MemberDetailApi.as_view(),
        name="project-member",
    ),
    path(
        "projects/<int:project_id>/images/search", image_search.ImageSearchApi.as_view(), name="image-search"
    ),
    path(
        "images/<int:image_id>/neighbours", image_search.ImageNeighboursApi.as_view(), name="image-neighbours"
    ),
    path(
        "projects/<int:project_id>/rejections", annotations.RejectionListApi.as_view(), name="rejection-list"
    ),
    path("projects/<int:project_id>/queue/next", annotations.QueueNextApi.as_view(), name="queue-next"),
    path("images/<int:image_id>", projects.ImageDetailApi.as_view(), name="image-detail"),
    path("images/<int:image_id>/file", projects.ImageFileApi.as_view(), name="image-file"),
    path("images/<int:image_id>/thumbnail", ImageThumbnailApi.as_view(), name="image-thumbnail"),
    path(
        "images/<int:image_id>/annotations", annotations.AnnotationSetApi.as_view(), name="image-annotations"
    ),
    path("images/<int:image_id>/submit", annotations.SubmitApi.as_view(), name="image-submit"),
    path("images/<int:image_id>/review", annotations.ReviewApi.as_view(), name="image-review"),
    path(
        "images/<int:image_id>/fix-and-accept",
        annotations.FixAndAcceptApi.as_view(),
        name="image-fix-and-accept",
    ),
    path("images/<int:image_id>/lease", annotations.LeaseApi.as_view(), name="image-lease"),
    path("images/<int:image_id>/revisions", annotations.RevisionListApi.as_view(), name="image-revisions"),
    path("images/<int:image_id>/prediction", annotations.PredictionApi.as_view(), name="image-prediction"),
    path("images/<int:image_id>/segment", SegmentApi.as_view(), name="image-segment"),
    path("projects/<int:project_id>/prompt-engine", PromptEngineApi.as_view(), name="prompt-engine"),
    # the learning loop: training runs, model registry, acceptance metrics
    path(
        "projects/<int:project_id>/training-runs",
        learning.TrainingRunListApi.as_view(),
        name="training-run-list",
    ),
    path("training-runs/<int:run_id>", learning.TrainingRunDetailApi.as_view(), name="training-run-detail"),
    path(
        "training-runs/<int:run_id>/cancel",
        learning.TrainingRunCancelApi.as_view(),
        name="training-run-cancel",
    ),
    path(
        "projects/<int:project_id>/model-versions",
        learning.ModelVersionListApi.as_view(),
        name="model-version-list",
    ),
    path(
        "model-versions/<int:version_id>/promote",
        learning.ModelVersionPromoteApi.as_view(),
        name="model-version-promote",
    ),
    path(
        "projects/<int:project_id>/model-versions/rollback",
        learning.ModelRollbackApi.as_view(),
        name="model-rollback",
    ),
    path("projects/<int:project_id>/acceptance", learning.AcceptanceApi.as_view(), name="model-acceptance"),
    path("projects/<int:project_id>/trust-gate", trust.TrustGateApi.as_view(), name="trust-gate"),
    path("images/<int:image_id>/prelabels", learning.PrelabelStateApi.as_view(), name="image-prelabels"),
    path("images/<int:image_id>/suggestions", trust.ImageSuggestionsApi.as_view(), name="image-suggestions"),
    path(
        "images/<int:image_id>/suggestions/rejected",
        trust.ImageSuggestionRejectApi.as_view(),
        name="image-suggestion-reject",
    ),
    path(
        "projects/<int:project_id>/rescore-jobs",
        learning.RescoreJobListApi.as_view(),
        name="rescore-job-list",
    ),
    path("projects/<int:project_id>/exports", datasets.ExportCreateApi.as_view(), name="export-create"),
    path("exports/<int:export_id>", datasets.ExportDetailApi.as_view(), name="export-detail"),
    path("exports/<int:export_id>/download", datasets.ExportDownloadApi.as_view(), name="export-download"),
    path("projects/<int:project_id>/imports", datasets.ImportCreateApi.as_view(), name="import-create"),
    path("imports/<int:import_id>", datasets.ImportDetailApi.as_view(), name="import-detail"),
    path("imports/<int:import_id>/accept", datasets.ImportAcceptApi.as_view(), name="import-accept"),
    # the universal base: taxonomy, contribution, base runs and lineage, rebase
    path("projects/<int:project_id>/taxonomy", universal.TaxonomyApi.as_view(), name="project-taxonomy"),
    path(
        "projects/<int:project_id>/contribution",
        universal.ContributionApi.as_view(),
        name="project-contribution",
    ),
    path(
        "projects/<int:project_id>/base-update", universal.BaseUpdateApi.as_view(), name="project-base-update"
    ),
    path("projects/<int:project_id>/rebase", universal.RebaseApi.as_view(), name="project-rebase"),
    path("universal/base-runs", universal.BaseRunListApi.as_view(), name="base-run-list"),
    path("universal/base-runs/<int:run_id>", universal.BaseRunDetailApi.as_view(), name="base-run-detail"),
    path(
        "universal/base-runs/<int:run_id>/cancel",
        universal.BaseRunCancelApi.as_view(),
        name="base-run-cancel",
    ),
    path("universal/base-versions", universal.BaseLineageApi.as_view(), name="base-lineage"),
]
