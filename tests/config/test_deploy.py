"""The deploy/ folder describes a production that Django's own checks accept."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.urls import resolve

from tests.config.test_production import _manage

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


# What an operator exports before `docker compose up` (see deploy/README.md).
OPERATOR = {
    "ATELIER_HOSTS": "atelier.example.com",
    "ATELIER_ORIGINS": "https://atelier.example.com",
    "POSTGRES_PASSWORD": "pw",
    "SD_MODELS": '{"sd15": "/models/sd15"}',
}


def _app_environment() -> dict[str, str]:
    """The environment every application service gets, with the operator's values filled in."""
    values = OPERATOR

    def fill(text: str) -> str:
        return re.sub(r"\$\{(\w+)[^}]*\}", lambda m: values[m.group(1)], text)

    return {k: fill(str(v)) for k, v in _compose()["x-app"]["environment"].items()}


def test_the_compose_file_has_every_role_of_a_deployment():
    services = _compose()["services"]
    assert {"web", "worker-cpu", "worker-gpu", "beat", "postgres", "redis", "migrate"} <= set(
        services
    )
    assert services["worker-gpu"]["command"][4:6] == ["-Q", "gpu"]
    assert "--concurrency" in services["worker-gpu"]["command"]
    assert services["worker-cpu"]["command"][4:6] == ["-Q", "cpu"]
    assert "pgvector" in services["postgres"]["image"]


def test_the_web_healthcheck_probes_a_real_readiness_endpoint():
    probe = " ".join(_compose()["services"]["web"]["healthcheck"]["test"])
    path = re.search(r"http://127\.0\.0\.1:8000(/\S*?)'", probe).group(1)
    assert resolve(path).url_name == "ready"


def test_the_compose_environment_passes_check_deploy(tmp_path):
    env = _app_environment()
    (tmp_path / "secret_key").write_text("k" * 20 + "-an-unguessable-production-secret-9f8e7d6c5b")
    env["SECRET_KEY_FILE"] = str(tmp_path / "secret_key")
    env["MEDIA_ROOT"] = str(tmp_path / "media")
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("unit", sorted(p.name for p in (DEPLOY / "systemd").glob("*.service")))
def test_each_systemd_unit_starts_an_atelier_command(unit):
    text = (DEPLOY / "systemd" / unit).read_text()
    start = re.search(r"^ExecStart=(\S+) (.*)$", text, re.MULTILINE)
    program, args = Path(start.group(1)).name, start.group(2)
    assert program in {"gunicorn", "celery"}
    if program == "celery":
        assert args.startswith("-A config ")
    else:
        assert args.startswith("config.wsgi ")
    assert "EnvironmentFile=/etc/atelier/atelier.env" in text


def _compose_command() -> list[str] | None:
    """``docker compose`` (v2 plugin) or ``docker-compose`` (v1, Debian's package), if any."""
    docker = shutil.which("docker")
    if (
        docker
        and not subprocess.run([docker, "compose", "version"], capture_output=True).returncode
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_docker_compose_accepts_the_file():
    command = _compose_command()
    if command is None:
        pytest.skip("neither the docker compose plugin nor docker-compose is installed here")
    result = subprocess.run(
        [*command, "-f", str(DEPLOY / "docker-compose.yml"), "config", "--quiet"],
        env={**OPERATOR, "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
