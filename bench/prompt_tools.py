"""Prompt tools speed at 100k prompts, and the enhancer's suggestions for 30 plain ideas.

Speed (issue 6: combine and enhance API p95 <= 100 ms with 100k prompts in the gallery):
a fresh SQLite database with 100k prompts (`search_corpus.corpus`: real prompts recombined by
phrase), one image each with a random like count, and their vectors (the first 2,000 embedded
for real and cached under bench/.cache, the rest synthesised from them as bench/search.py does;
the numpy index is what the SQLite default searches). Then, through Django's test ``Client``:

- ``POST /api/prompts/combine/`` with 2 to 5 random image ids, each strategy in turn: p50/p95,
  once with the per-process phrase-vector cache cleared before every request ("cold": every
  modifier embedded) and once "warm": after 300 other random merges, as a running server has
  served (modifiers repeat across prompts; the measured requests are new random ones);
- ``POST /api/prompts/enhance/`` for the 30 ideas of bench/enhance/ideas.txt, the query-vector
  cache cleared before every request.

Suggestions (``--suggestions``): the same 30 ideas against the 1,000 real prompts of
``../shared/data/open-prompts-1k.csv`` (embedded for real, likes 0), printing the first
enhanced prompt's modifiers; bench/enhance/judgments.md records what a person made of them.

Usage::

    .venv/bin/python bench/prompt_tools.py [--size 100000] [--requests 60]
    .venv/bin/python bench/prompt_tools.py --suggestions
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import search_corpus  # noqa: E402

IDEAS = [
    line.strip()
    for line in (BENCH / "enhance" / "ideas.txt").read_text().splitlines()
    if line.strip()
]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def _setup(var: Path) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    search_corpus.django_setup(var)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _timed(client, path: str, body: dict, before=None) -> float:
    if before is not None:
        before()
    started = time.perf_counter()
    response = client.post(path, body, content_type="application/json")
    took = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{path} answered {response.status_code}: {response.content[:300]!r}")
    return took


def speed(size: int, requests: int) -> None:
    with tempfile.TemporaryDirectory(prefix="atelier-bench-tools-") as tmp:
        _setup(Path(tmp))
        from search import corpus_vectors, ingest

        from gallery.models import Image
        from prompts import embeddings, remix

        texts = search_corpus.corpus(size)
        search_corpus.cached_vectors(texts[: search_corpus.CHUNK])  # embed the first chunk
        vectors, real = corpus_vectors(texts)
        started = time.perf_counter()
        ingest(texts, vectors)
        rng = random.Random(6)
        ids = list(Image.objects.values_list("id", flat=True))
        for start in range(0, len(ids), 5000):
            for image_id in ids[start : start + 5000 : 7]:
                Image.objects.filter(id=image_id).update(like_count=rng.randint(0, 50))
        print(f"{size} prompts ({real} real vectors), ingest {time.perf_counter() - started:.0f} s")

        from django.test import Client

        client = Client()
        embeddings.texts_embed(texts=["warm up"])  # load the model: not a request's cost
        client.post("/api/prompts/enhance/", {"idea": "warm up"}, content_type="application/json")
        load = os.getloadavg()

        def combine_body(strategy: str) -> dict:
            n = 2 if strategy == "subject_style" else rng.randint(2, 5)
            body = {"sources": rng.sample(ids, n), "strategy": strategy}
            if strategy in ("weighted", "blend"):
                body["weights"] = [round(rng.uniform(0.2, 2), 1) for _ in range(n)]
            return body

        def warm_up() -> None:
            # A running server has combined other prompts before: 300 requests of traffic.
            for _ in range(300):
                client.post(
                    "/api/prompts/combine/", combine_body("merge"), content_type="application/json"
                )

        for strategy in ("merge", "subject_style", "weighted", "blend"):
            for label, before in (("cold", remix._vectors.clear), ("warm", None)):
                if label == "warm":
                    warm_up()
                times = []
                for _ in range(requests):
                    times.append(
                        _timed(client, "/api/prompts/combine/", combine_body(strategy), before)
                    )
                print(
                    f"combine {strategy:13} {label}: p50 {percentile(times, 50):6.1f} ms, "
                    f"p95 {percentile(times, 95):6.1f} ms (n={len(times)})"
                )
        times = []
        for idea in IDEAS * max(1, requests // len(IDEAS)):
            times.append(
                _timed(
                    client, "/api/prompts/enhance/", {"idea": idea}, embeddings._query_cache.clear
                )
            )
        print(
            f"enhance (query vector cache cleared): p50 {percentile(times, 50):6.1f} ms, "
            f"p95 {percentile(times, 95):6.1f} ms (n={len(times)})"
        )
        print(
            f"load average at the start of the requests: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        )


def suggestions() -> None:
    with tempfile.TemporaryDirectory(prefix="atelier-bench-ideas-") as tmp:
        _setup(Path(tmp))
        from search import ingest

        from gallery.enhance import idea_enhance

        texts = list(dict.fromkeys(search_corpus.real_prompts()))
        ingest(texts, search_corpus.cached_vectors(texts))
        for idea in IDEAS:
            result = idea_enhance(idea=idea, user=None)
            picks = {
                role: [s.text for s in group[:3]] for role, group in result.suggestions.items()
            }
            print(f"## {idea}\n  prompt 1: {result.prompts[0]}\n  top 3 by role: {picks}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--suggestions", action="store_true")
    args = parser.parse_args()
    if args.suggestions:
        suggestions()
    else:
        speed(args.size, args.requests)


if __name__ == "__main__":
    main()
