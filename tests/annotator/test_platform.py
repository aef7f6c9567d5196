"""Platform checks: /healthz, the OpenAPI schema, production settings, the compose file."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_healthz_is_200_when_database_and_broker_answer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


@pytest.mark.django_db
def test_healthz_is_503_naming_the_broker_when_it_is_down(client):
    from annotator.celery import app

    keys = ("broker_url", "broker_write_url", "broker_read_url")
    saved = {key: app.conf[key] for key in keys}
    for key in keys:
        app.conf[key] = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    app._pool = None
    try:
        response = client.get("/healthz")
    finally:
        for key, value in saved.items():
            app.conf[key] = value
        app._pool = None
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("error:")


@pytest.mark.django_db
def test_openapi_schema_validates_as_openapi_3(client, users):
    from drf_spectacular.validation import validate_schema

    client.force_login(users["annotator"])
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)  # raises on any violation of the OpenAPI 3 JSON schema
    assert "/api/v1/images/{image_id}/annotations" in schema["paths"]
    assert client.get("/api/docs/").status_code == 200


def test_check_deploy_with_production_settings_is_clean(tmp_path):
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE for Playwright; production never has it.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {
        **env,
        "DJANGO_SETTINGS_MODULE": "annotator.settings.production",
        "DJANGO_SECRET_KEY": "x" * 30 + "-a-long-random-production-secret-" + "y" * 20,
        "DJANGO_ALLOWED_HOSTS": "annotator.example.com",
        "ANNOTATOR_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_require_the_secret(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SECRET_KEY"}
    env.update(DJANGO_SETTINGS_MODULE="annotator.settings.production", DJANGO_ALLOWED_HOSTS="a.example.com")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "Set the DJANGO_SECRET_KEY environment variable" in result.stderr


def _compose_command() -> list[str] | None:
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


@pytest.mark.skipif(
    shutil.which("docker") is None and shutil.which("docker-compose") is None,
    reason="no docker client on this machine",
)
def test_compose_file_is_valid():
    command = _compose_command()
    assert command is not None, "docker is installed but neither `docker compose` nor `docker-compose` is"
    env = {**os.environ, "ANNOTATOR_ENV_FILE": ".env.example"}
    result = subprocess.run(
        [*command, "-f", "docker/compose.yaml", "config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert {"postgres", "redis", "web", "worker-inference", "worker-training", "beat"} <= set(services)
    assert all("healthcheck" in services[name] for name in ("postgres", "redis", "web", "worker-inference"))
    assert "training" in services["worker-training"]["command"]
