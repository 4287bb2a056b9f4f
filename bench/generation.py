"""Generation overhead: what a job costs beyond the pipeline call, with the real worker.

Starts the site (gunicorn) and a real Celery worker on a fresh SQLite database and the tiny
offline model, then submits 50 jobs one after another through the API and waits until each
job's images are listed by ``/api/images/``. Overhead = (submit -> visible in the gallery) minus
the time inside the pipeline call (the worker records it in ``job.timings["render"]``). Run once
with Redis (the target) and once with the embedded SQLite broker. Prints p50/p95.

    .venv/bin/python bench/generation.py [--jobs 50] [--brokers redis,embedded]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [str(BIN / "python"), "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def run(broker: str, jobs: int) -> dict[str, float]:
    """Measure one broker; returns the figures in milliseconds."""
    tmp = Path(tempfile.mkdtemp(prefix="atelier-bench-gen-"))
    model_dir = tmp / "tiny-sd"
    broker_url = (
        "redis://127.0.0.1:6379/14" if broker == "redis" else f"sqla+sqlite:///{tmp}/broker.db"
    )
    env = {
        **os.environ,
        "ATELIER_VAR_DIR": str(tmp),
        "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
        "CELERY_BROKER_URL": broker_url,
        "CELERY_BROKER_POLLING_INTERVAL": "0.01",
        "SD_MODELS": json.dumps({"tiny-test": str(model_dir)}),
        "HF_HUB_OFFLINE": "1",
        "GENERATION_MAX_ACTIVE_JOBS": "1000",
    }
    if broker == "redis":
        import redis

        redis.Redis.from_url(broker_url).flushdb()
    _manage(env, "migrate", "--noinput")
    _manage(env, "make_test_model", str(model_dir))
    token = (
        _manage(
            env,
            "shell",
            "-c",
            "from django.contrib.auth.models import User;"
            "from rest_framework.authtoken.models import Token;"
            "u=User.objects.create_user('bench', password='x');"
            "print(Token.objects.create(user=u).key)",
        )
        .strip()
        .splitlines()[-1]
    )  # shell also prints its auto-imports
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    logs = (tmp / "processes.log").open("wb")
    procs = [
        subprocess.Popen(
            [str(BIN / "gunicorn"), "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2"],
            cwd=ROOT,
            env=env,
            stdout=logs,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
        subprocess.Popen(
            [
                str(BIN / "celery"),
                "-A",
                "config",
                "worker",
                "-Q",
                "gpu",
                "-c",
                "1",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "WARNING",
            ],
            cwd=ROOT,
            env=env,
            stdout=logs,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
    ]
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if session.get(f"{url}/api/images/", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                log = (tmp / "processes.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the site did not start:\n{log}")
            time.sleep(0.1)
        overheads, totals, renders, loads = [], [], [], []
        for index in range(jobs):
            started = time.perf_counter()
            job = session.post(
                f"{url}/api/jobs/", json={"prompt": f"bench prompt {index}", "steps": 20}
            ).json()
            while True:
                state = session.get(f"{url}/api/jobs/{job['id']}/").json()
                if state["status"] == "succeeded":
                    wanted = {image["id"] for image in state["images"]}
                    listed = session.get(f"{url}/api/images/?page_size=5").json()["results"]
                    if wanted <= {row["id"] for row in listed}:
                        break
                elif state["status"] in ("failed", "cancelled"):
                    raise RuntimeError(f"job failed: {state['error']}")
                time.sleep(0.005)
            total = time.perf_counter() - started
            render = state["timings"]["render"]
            totals.append(total * 1000)
            renders.append(render * 1000)
            loads.append(state["timings"]["load"] * 1000)
            if index > 0:  # the first job loads the model
                overheads.append((total - render) * 1000)
        return {
            "overhead_p50": _pct(overheads, 0.5),
            "overhead_p95": _pct(overheads, 0.95),
            "total_p50": _pct(totals, 0.5),
            "render_p50": _pct(renders, 0.5),
            "first_load": loads[0],
            "warm_load_max": max(loads[1:]),
            "first_total": totals[0],
        }
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--brokers", default="redis,embedded")
    args = parser.parse_args()
    print(f"{args.jobs} jobs each, tiny model, 64x64, 20 steps, 1 worker (-c 1), CPU")
    header = (
        f"{'broker':<10}{'overhead p50':>14}{'overhead p95':>14}{'total p50':>11}"
        f"{'render p50':>12}{'1st load':>10}{'warm load':>11}"
    )
    print(header)
    for broker in args.brokers.split(","):
        figures = run(broker, args.jobs)
        print(
            f"{broker:<10}{figures['overhead_p50']:>11.1f} ms{figures['overhead_p95']:>11.1f} ms"
            f"{figures['total_p50']:>8.1f} ms{figures['render_p50']:>9.1f} ms"
            f"{figures['first_load']:>7.0f} ms{figures['warm_load_max']:>8.2f} ms",
            flush=True,
        )


if __name__ == "__main__":
    main()
