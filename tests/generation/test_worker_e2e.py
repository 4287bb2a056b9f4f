"""End to end: the real site (gunicorn), a real Celery worker and beat, a real broker.

These start processes like `make run` does, against the test database, submit jobs over HTTP
and check what lands in the gallery. They cover what the broker alone cannot guarantee: a
worker killed mid-job, a broker restarted while a job waits, a job that keeps killing its worker.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.db import connection

from gallery.models import Image
from generation.models import GenerationJob

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    host = quote(db["HOST"] or "localhost", safe="")
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{db['USER']}:{quote(db['PASSWORD'] or '')}@{host}{port}/{db['NAME']}"


def _redis_available(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except Exception:
        return False


def _need(condition: bool, why: str) -> None:
    if condition:
        return
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"{why} (REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(why)


class Stack:
    """Web, worker and beat processes sharing the test database, media and a broker."""

    def __init__(self, tmp: Path, broker_url: str, model_dir: Path, media: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = tmp
        self.logs = tmp / "logs"
        self.logs.mkdir(exist_ok=True)
        self.env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "CELERY_BROKER_URL": broker_url,
            "CELERY_BROKER_POLLING_INTERVAL": "0.05",
            "ATELIER_VAR_DIR": str(tmp / "var"),
            "MEDIA_ROOT": str(media),
            "SD_MODELS": f'{{"tiny-test": "{model_dir}"}}',
            "SD_DEFAULT_SIZE": "64",
            "SD_DEFAULT_STEPS": "4",
            "GENERATION_LEASE_SECONDS": "3",
            "GENERATION_RECONCILE_SECONDS": "1",
            "GENERATION_REPUBLISH_SECONDS": "2",
            "GENERATION_MAX_ATTEMPTS": "2",
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        self.procs: dict[str, subprocess.Popen] = {}
        self.session = requests.Session()

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a kill takes its children too
        )
        self.procs[name] = proc
        return proc

    def start_web(self) -> None:
        self.start(
            "web",
            str(BIN / "gunicorn"),
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            "1",
            "--threads",
            "4",
        )
        self._wait(lambda: self.session.get(f"{self.url}/api/images/", timeout=2).ok, 30, "web")

    def start_worker(self, name: str = "worker", queues: str = "gpu") -> None:
        """A GPU-queue worker; ``queues="cpu"`` is the light worker that runs the reconciler."""
        self.start(
            name,
            str(BIN / "celery"),
            "-A",
            "config",
            "worker",
            "-Q",
            queues,
            "--concurrency",
            "1",
            "--pool",
            "prefork",
            "--loglevel",
            "INFO",
            "--hostname",
            f"{name}-{time.monotonic_ns()}@%h",
            "--without-gossip",
            "--without-mingle",
        )

    def start_beat(self) -> None:
        self.start(
            "beat",
            str(BIN / "celery"),
            "-A",
            "config",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(self.tmp / "beat-schedule"),
        )

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        # No graceful shutdown to wait for: the test is over, and its database is flushed next.
        for name in list(self.procs):
            proc = self.procs.pop(name)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def login(self, token: str) -> None:
        self.session.headers["Authorization"] = f"Token {token}"

    def submit(self, **body: object) -> dict:
        response = self.session.post(f"{self.url}/api/jobs/", json=body, timeout=10)
        assert response.status_code == 201, response.text
        return response.json()

    def job(self, job_id: int) -> dict:
        return self.session.get(f"{self.url}/api/jobs/{job_id}/", timeout=10).json()

    def wait_for(self, job_id: int, predicate, timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if predicate(job):
                return job
            time.sleep(0.1)
        raise AssertionError(f"job {job_id}: {what} not reached: {self.job(job_id)}\n{self.tail()}")

    def _wait(self, check, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{what} did not start\n{self.tail()}")

    def tail(self) -> str:
        return "\n".join(
            f"--- {log.name}\n" + log.read_text(errors="replace")[-3000:]
            for log in sorted(self.logs.glob("*.log"))
        )


@pytest.fixture
def token(alice) -> str:
    from rest_framework.authtoken.models import Token

    return Token.objects.create(user=alice).key


@pytest.fixture
def make_stack(tmp_path: Path, tiny_model_dir: Path, settings, token) -> Iterator:
    stacks: list[Stack] = []

    def make(broker_url: str) -> Stack:
        stack = Stack(tmp_path, broker_url, tiny_model_dir, Path(settings.MEDIA_ROOT))
        stacks.append(stack)
        stack.start_web()
        stack.login(token)
        return stack

    yield make
    for stack in stacks:
        stack.stop_all()


def _sqla_broker(tmp_path: Path) -> str:
    return f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"


def _flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


@pytest.mark.parametrize("broker", ["embedded", "redis"])
def test_a_submitted_job_lands_in_the_gallery(make_stack, tmp_path, broker):
    if broker == "redis":
        _need(_redis_available(REDIS_URL), f"no Redis at {REDIS_URL}")
        _flush_redis(REDIS_URL)
    stack = make_stack(_sqla_broker(tmp_path) if broker == "embedded" else REDIS_URL)
    stack.start_worker()
    job = stack.submit(prompt="a lighthouse at dusk", batch_size=2, seed=9)
    done = stack.wait_for(job["id"], lambda j: j["status"] == "succeeded", 90, "success")
    assert [image["seed"] for image in done["images"]] == [9, 10]
    gallery = requests.get(f"{stack.url}/api/images/", timeout=10).json()["results"]
    assert {row["id"] for row in gallery} == {image["id"] for image in done["images"]}
    # A second job on the warm worker pays no model load.
    second = stack.submit(prompt="a second lighthouse", seed=1)
    stack.wait_for(second["id"], lambda j: j["status"] == "succeeded", 30, "success")
    worker_log = (stack.logs / "worker.log").read_text()
    assert worker_log.count("loading model") <= 1


def test_a_worker_killed_mid_job_is_replaced_and_the_job_completes_exactly_once(
    make_stack, tmp_path
):
    stack = make_stack(_sqla_broker(tmp_path))
    stack.start_beat()
    stack.start_worker("cpu", queues="cpu")
    stack.start_worker("first")
    job = stack.submit(prompt="a long job", width=128, height=128, steps=40, seed=4)
    stack.wait_for(
        job["id"], lambda j: j["status"] == "running" and j["progress"] > 0, 90, "running"
    )
    stack.kill("first")
    stack.start_worker("second")
    done = stack.wait_for(job["id"], lambda j: j["status"] == "succeeded", 120, "success")
    assert done["attempts"] == 2
    assert Image.objects.count() == 1
    assert [image["seed"] for image in done["images"]] == [4]


def test_a_job_submitted_while_the_broker_is_down_runs_when_it_is_back(make_stack, tmp_path):
    redis_server = shutil.which("redis-server")
    _need(redis_server is not None, "redis-server is not installed")
    port = _free_port()
    broker = f"redis://127.0.0.1:{port}/0"

    def start_redis() -> subprocess.Popen:
        proc = subprocess.Popen(
            [
                redis_server,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _redis_available(broker):
            assert time.monotonic() < deadline, "redis did not start"
            time.sleep(0.05)
        return proc

    redis_proc = start_redis()
    try:
        stack = make_stack(broker)
        stack.start_worker()
        stack.start_worker("cpu", queues="cpu")
        stack.start_beat()
        redis_proc.terminate()
        redis_proc.wait(timeout=10)
        job = stack.submit(prompt="submitted while the broker is down", seed=2)
        assert job["status"] == "queued"
        time.sleep(1)
        redis_proc = start_redis()  # an empty broker: the message is gone for good
        done = stack.wait_for(job["id"], lambda j: j["status"] == "succeeded", 120, "success")
        assert len(done["images"]) == 1
        assert Image.objects.count() == 1
    finally:
        redis_proc.kill()


def test_a_job_that_keeps_killing_its_worker_fails_after_max_attempts(make_stack, tmp_path):
    stack = make_stack(_sqla_broker(tmp_path))
    stack.start_beat()
    stack.start_worker("cpu", queues="cpu")
    job = stack.submit(prompt="poison", width=128, height=128, steps=40)
    for attempt in (1, 2):
        stack.start_worker(f"w{attempt}")
        stack.wait_for(
            job["id"],
            lambda j, a=attempt: (
                j["status"] == "running" and j["attempts"] == a and j["progress"] > 0
            ),
            90,
            f"attempt {attempt} running",
        )
        stack.kill(f"w{attempt}")
    failed = stack.wait_for(job["id"], lambda j: j["status"] == "failed", 30, "failure")
    assert "2 times" in failed["error"]
    assert GenerationJob.objects.get(id=job["id"]).images.count() == 0


def test_cancelling_a_running_job_stops_it_and_stores_nothing(make_stack, tmp_path):
    stack = make_stack(_sqla_broker(tmp_path))
    stack.start_worker()
    job = stack.submit(prompt="cancel me", width=128, height=128, steps=60)
    stack.wait_for(
        job["id"], lambda j: j["status"] == "running" and j["progress"] > 0, 90, "running"
    )
    response = stack.session.post(f"{stack.url}/api/jobs/{job['id']}/cancel/", timeout=10)
    assert response.status_code == 200
    time.sleep(2)
    assert stack.job(job["id"])["status"] == "cancelled"
    assert Image.objects.count() == 0
    # The worker is free again at once.
    second = stack.submit(prompt="after the cancel", seed=1)
    stack.wait_for(second["id"], lambda j: j["status"] == "succeeded", 60, "success")


def test_inpaint_and_outpaint_jobs_run_on_the_real_worker(make_stack, tmp_path, make_image):
    import numpy as np
    from PIL import Image as PILImage

    from tests.generation.masks import data_url, mask_png, noise

    source = make_image()
    with source.file.open("wb") as handle:  # a picture where no pixel matches by luck
        noise().save(handle, format="PNG")
    stack = make_stack(_sqla_broker(tmp_path))
    stack.start_worker()
    # Inpaint: the mask as a multipart PNG upload.
    response = stack.session.post(
        f"{stack.url}/api/jobs/",
        data={"mode": "inpaint", "source_image": source.id, "steps": 4, "seed": 1},
        files={"mask": ("mask.png", mask_png(), "image/png")},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    inpaint = response.json()
    # Outpaint: JSON, with the mask as a data URL, growing the canvas to the left.
    outpaint = stack.submit(
        mode="outpaint",
        source_image=source.id,
        extend={"left": 64},
        mask=data_url(mask_png(box=(0, 0, 8, 8))),
        steps=4,
        seed=2,
    )
    before = np.asarray(PILImage.open(source.file.path).convert("RGB"))
    for job, offset in ((inpaint, 0), (outpaint, 64)):
        done = stack.wait_for(job["id"], lambda j: j["status"] == "succeeded", 90, "success")
        (row,) = done["images"]
        result = Image.objects.get(id=row["id"])
        assert [p.id for p in result.parents.all()] == [source.id]
        assert result.extra["edit"]["mode"] == job["mode"]
        after = np.asarray(PILImage.open(result.file.path).convert("RGB"))
        assert after.shape == (64, 64 + offset, 3)
        # Far from the mask (beyond its 4 px blur), the source's pixels, bit for bit.
        assert np.array_equal(after[48:, offset + 48 :], before[48:, 48:])
    assert done["extend"] == {"left": 64, "top": 0, "right": 0, "bottom": 0}
