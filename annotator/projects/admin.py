"""Admin for projects: project admins manage members, categories and images here too."""

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from .admin_scoping import ProjectScopedAdmin, admin_project_ids
from .ingest import images_ingest
from .models import Category, Image, Membership, Project
from .services import images_release_leases


class CategoryInline(admin.TabularInline):
    model = Category
    extra = 0


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class UploadForm(forms.Form):
    files = forms.FileField(
        widget=forms.ClearableFileInput(attrs={"allow_multiple_selected": True}), required=False
    )


@admin.register(Project)
class ProjectAdmin(ProjectScopedAdmin):
    project_path = "pk"

    list_display = [
        "name",
        "slug",
        "queue_strategy",
        "auto_pre_label",
        "contribute_to_universal",
        "created_at",
    ]
    search_fields = ["name", "slug"]
    list_filter = ["queue_strategy", "auto_pre_label", "contribute_to_universal"]
    inlines = [CategoryInline, MembershipInline]
    readonly_fields = ["contribution_changed_by", "contribution_changed_at", "created_by", "created_at"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Membership)
class MembershipAdmin(ProjectScopedAdmin):
    list_display = ["user", "project", "role"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "project__name"]


@admin.register(Category)
class CategoryAdmin(ProjectScopedAdmin):
    list_display = ["name", "project", "export_id", "color", "universal_name"]
    list_filter = ["project"]
    search_fields = ["name"]


@admin.register(Image)
class ImageAdmin(ProjectScopedAdmin):
    list_display = [
        "id",
        "preview",
        "name",
        "project",
        "status",
        "split",
        "uncertainty",
        "version",
        "lease_user",
    ]
    list_filter = ["status", "split", "project"]
    search_fields = ["name", "sha256"]
    readonly_fields = [
        "sha256",
        "width",
        "height",
        "version",
        "file",
        "thumbnail",
        "file_ext",
        "created_at",
        "uploaded_by",
        "status_changed_at",
        "features",
    ]
    actions = ["release_leases"]

    @admin.display(description="thumbnail")
    def preview(self, obj: Image) -> str:
        return format_html('<img src="/api/v1/images/{}/thumbnail" style="height:48px">', obj.id)

    @admin.action(description="Release the leases of the selected images")
    def release_leases(self, request, queryset):
        n = images_release_leases(images=queryset)
        self.message_user(request, f"Released {n} lease(s)")

    def get_urls(self):
        from django.urls import path

        return [
            path("upload/", self.admin_site.admin_view(self.upload_view), name="projects_image_upload"),
            *super().get_urls(),
        ]

    def upload_view(self, request):
        """Upload images or zips into a project from the admin; reports what was refused."""
        from django.shortcuts import redirect, render

        projects = Project.objects.all()
        if not request.user.is_superuser:
            projects = projects.filter(pk__in=admin_project_ids(request.user))
        if request.method == "POST":
            project = projects.filter(pk=request.POST.get("project")).first()
            files = request.FILES.getlist("files")
            if project is None or not files:
                messages.error(request, "Choose a project and at least one file")
            else:
                report = images_ingest(
                    project=project, uploads=[(f.name, f) for f in files], user=request.user
                )
                messages.success(
                    request,
                    f"Stored {len(report.created)} image(s); {len(report.duplicates)} duplicate(s) skipped",
                )
                for r in report.rejected:
                    messages.error(request, f"{r.file}: {r.reason}")
                return redirect("admin:projects_image_changelist")
        return render(
            request,
            "admin/projects/image/upload.html",
            {"projects": projects, "title": "Upload images", **self.admin_site.each_context(request)},
        )
