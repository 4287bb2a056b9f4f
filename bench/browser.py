"""Benchmark of the gallery in a real browser: paint timings at 100,000 images.

What it measures, and why: a gallery is judged by how fast the first screen of pictures
appears. Issue 9 set, against a local server on this machine: first contentful paint
<= 1.0 s, "first 30 thumbnails visible" <= 1.5 s, the first page's HTML <= 60 KB, and no
third-party requests (everything is served locally, so the site works offline).

1. Like bench/api_list.py (whose seeder it reuses), it starts a throwaway PostgreSQL 18,
   migrates it and inserts 100,000 images; the 60 newest get real WebP thumbnails on disk
   (the seeder only writes rows), so the first page's images really load.
2. It serves the site with gunicorn (2 sync workers, DEBUG off, static files collected and
   served by WhiteNoise, media by Django, as `make run` does) on 127.0.0.1.
3. Debian's Chromium (through Playwright) opens `/` at 1280x800 in a fresh context (cold
   cache) ``--runs`` times; the Performance API gives first contentful paint (the ``paint``
   entry) and, from ``load`` events recorded by an init script, when each of the first 30
   grid thumbnails had loaded. The grid's images are lazy; the page is scrolled to the bottom
   of those 30 tiles after load so that all 30 are requested. Each request's host is checked.

Usage::

    .venv/bin/python bench/browser.py              # 100,000 images, 7 runs (~2-3 minutes)
    .venv/bin/python bench/browser.py --rows 5000 --runs 3 --check   # a smoke run
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import api_list  # the seeder, gunicorn runner and machine line

REPO = api_list.REPO
FCP_TARGET_S = 1.0
THUMBS_TARGET_S = 1.5
HTML_TARGET_KB = 60.0
FIRST = 30

# Records when each image loaded (load does not bubble, but capture sees it at the document).
RECORD_LOADS = """
window.__loads = new Map();
document.addEventListener("load", (event) => {
  if (event.target.tagName === "IMG") window.__loads.set(event.target, performance.now());
}, true);
"""
MEASURE = """
async (first) => {
  const imgs = Array.from(document.querySelectorAll("#grid .tile img")).slice(0, first);
  const fcp = performance.getEntriesByName("first-contentful-paint")[0];
  // In-viewport images load on their own; scroll to the 30th so the lazy rest are requested.
  const inView = imgs.filter((img) => img.getBoundingClientRect().top < innerHeight).length;
  imgs[imgs.length - 1].scrollIntoView();
  const deadline = performance.now() + 15000;
  while (imgs.some((img) => !window.__loads.has(img)) && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const times = imgs.map((img) => window.__loads.get(img));
  const firstScreen = times.slice(0, inView);
  return {
    fcp: fcp ? fcp.startTime : null,
    count: imgs.length,
    loaded: times.filter((t) => t !== undefined).length,
    inView,
    firstScreen: Math.max(...firstScreen),
    all: Math.max(...times.map((t) => t === undefined ? Infinity : t)),
  };
}
"""


def write_thumbnails(media: Path, count: int) -> None:
    """Real WebP files for the ``count`` newest images (the seeder writes rows only)."""
    from PIL import Image as PILImage

    from gallery.models import Image

    rng = random.Random(7)
    for image in Image.objects.order_by("-created", "-id")[:count]:
        width = 256
        height = round(256 * image.height / image.width)
        pixels = PILImage.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
        path = media / image.thumb_small.name
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels.save(path, format="WEBP", quality=70)


def measure(url: str, runs: int) -> tuple[list[dict], set[str]]:
    from playwright.sync_api import sync_playwright

    results: list[dict] = []
    foreign: set[str] = set()
    executable = shutil.which("chromium")
    if executable is None:
        raise SystemExit("Chromium is missing: apt-get install -y chromium (make test-e2e does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=["--disable-gpu", "--disable-quic"]
        )
        try:
            for _ in range(runs + 1):  # the first run warms the server, not the browser
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                context.add_init_script(RECORD_LOADS)
                page = context.new_page()
                page.on(
                    "request",
                    lambda request: (
                        foreign.add(request.url)
                        if urlsplit(request.url).hostname not in ("127.0.0.1", "localhost")
                        and not request.url.startswith("data:")
                        else None
                    ),
                )
                page.goto(url, wait_until="load")
                results.append(page.evaluate(MEASURE, FIRST))
                context.close()
        finally:
            browser.close()
    return results[1:], foreign


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--prompts", type=int, default=5_000)
    parser.add_argument("--owners", type=int, default=50)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    with api_list.throwaway_postgres("bench") as (database_url, var_dir, _server):
        media = var_dir / "media"
        env = api_list.configure_environment(database_url, var_dir)
        env["MEDIA_ROOT"] = str(media)
        sys.path.insert(0, str(REPO))
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        print(f"# Atelier browser benchmark\n\nMachine: {api_list.machine()}", flush=True)
        started = time.perf_counter()
        call_command("migrate", verbosity=0, interactive=False)
        call_command("collectstatic", verbosity=0, interactive=False)
        api_list.seed_database(
            rows=args.rows,
            prompt_count=args.prompts,
            owner_count=args.owners,
            rng=random.Random(1),
        )
        write_thumbnails(media, 2 * FIRST)
        connections.close_all()
        print(f"Seeded {args.rows:,} images in {time.perf_counter() - started:.0f} s", flush=True)
        port = api_list.free_port()
        url = f"http://127.0.0.1:{port}/"
        with api_list.gunicorn(env, port, 2):
            with urllib.request.urlopen(url, timeout=30) as response:
                html_kb = len(response.read()) / 1024
            results, foreign = measure(url, args.runs)
        return report(results, foreign, html_kb, args)


def report(results: list[dict], foreign: set[str], html_kb: float, args) -> int:
    def median(key: str) -> float:
        return statistics.median(r[key] for r in results) / 1000

    def worst(key: str) -> float:
        return max(r[key] for r in results) / 1000

    fcp, screen, thumbs = median("fcp"), median("firstScreen"), median("all")
    loaded = min(r["loaded"] for r in results)
    in_view = results[0]["inView"]
    rows = [
        ("First contentful paint", f"{fcp:.3f} s", f"{worst('fcp'):.3f} s", f"<= {FCP_TARGET_S} s"),
        (
            f"First screen of thumbnails ({in_view}) loaded",
            f"{screen:.3f} s",
            f"{worst('firstScreen'):.3f} s",
            "",
        ),
        (
            f"First {FIRST} thumbnails loaded ({loaded}/{FIRST})",
            f"{thumbs:.3f} s",
            f"{worst('all'):.3f} s",
            f"<= {THUMBS_TARGET_S} s",
        ),
        ("HTML of the first page", f"{html_kb:.1f} KB", "", f"<= {HTML_TARGET_KB:.0f} KB"),
        ("Third-party requests", str(len(foreign)), "", "0"),
    ]
    print(f"\n{args.rows:,} images, {len(results)} cold-cache runs, 1280x800, Chromium\n")
    print("| Measure | Median | Worst | Target |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    for url in sorted(foreign):
        print(f"third-party: {url}")
    met = (
        fcp <= FCP_TARGET_S
        and thumbs <= THUMBS_TARGET_S
        and loaded == FIRST
        and html_kb <= HTML_TARGET_KB
        and not foreign
    )
    print(f"\nTargets {'met' if met else 'MISSED'}.")
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
