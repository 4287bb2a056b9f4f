"""Relevance of search: recall@10 and nDCG@10 of keyword-only, semantic-only and fused search.

What and why: issue 3 asks for search that finds prompts both literally (an artist's name, a
rare word) and in meaning ("a kitten painted like Monet"), fusing the two rankings with
reciprocal rank fusion, and requires the fused ranking to beat each side alone, measured rather
than assumed. This script measures it on real prompts:

1. It loads the ~1,000 distinct prompts of ``../shared/data/open-prompts-1k.csv`` into a
   throwaway SQLite database (a temporary ``ATELIER_VAR_DIR``) through the project's own code:
   `prompts.services.prompt_get_or_create` for each prompt, one `gallery.models.Image` row per
   prompt (fake file names, ``bulk_create``), then `prompts.services.prompt_embeddings_backfill`
   (all-MiniLM-L6-v2, the project's embedder) for the vectors.
2. For each query of ``judgments.json`` (written by reading the prompts; each relevant prompt is
   keyed by the first 16 hex digits of the SHA-256 of its whitespace-normalised text, graded
   2 = exactly what was asked, 1 = acceptable) it runs the app's real search,
   `gallery.search.images_search`, three ways: fused (as shipped), keyword-only (the vector
   side answers nothing) and semantic-only (the keyword side answers nothing). Everything else,
   query cleaning, the similarity floor, fusion, the mapping to images, is the app's code.
3. It reports recall@10 (relevant prompts in the top 10, over min(10, number relevant)) and
   nDCG@10 (gain = grade), overall and by query kind, and the same for a few what-if settings
   of the fusion (RRF k, ``SEARCH_MIN_SIMILARITY``), applied by patching the constant or
   overriding the setting for the run, not by editing the app.

Usage: ``.venv/bin/python bench/relevance/run.py [--per-query]`` (2-3 minutes here, most of
it embedding the prompts).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import search_corpus  # noqa: E402  (bench/search_corpus.py, beside this folder)

K = 10
MODES = ("keyword", "semantic", "fused")


@dataclass(frozen=True)
class Judgment:
    query: str
    kind: str  # what the query mostly needs: "keyword", "semantic" or "mixed"
    grades: dict[str, int]  # prompt key -> grade


def prompt_key(text: str) -> str:
    """The stable key of a prompt in judgments.json."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_judgments() -> list[Judgment]:
    data = json.loads((HERE / "judgments.json").read_text(encoding="utf-8"))
    return [
        Judgment(
            query=item["query"],
            kind=item["kind"],
            grades={rel["key"]: int(rel["grade"]) for rel in item["relevant"]},
        )
        for item in data["judgments"]
    ]


def recall_at_k(ranked: list[str], grades: dict[str, int]) -> float:
    found = sum(1 for key in ranked[:K] if key in grades)
    return found / min(K, len(grades))


def ndcg_at_k(ranked: list[str], grades: dict[str, int]) -> float:
    dcg = sum(grades.get(key, 0) / math.log2(i + 2) for i, key in enumerate(ranked[:K]))
    ideal = sorted(grades.values(), reverse=True)[:K]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def seed(texts: list[str]) -> dict[int, str]:
    """Prompts, one image each, and their vectors; returns prompt id -> key."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from gallery.models import Image
    from prompts import services

    owner = get_user_model().objects.create(username="bench", password="!")
    keys: dict[int, str] = {}
    started = time.perf_counter()
    # The worker queue is not running here: embed with the backfill below instead.
    with mock.patch.object(services, "prompt_embeddings_enqueue"), transaction.atomic():
        for text in texts:
            keys[services.prompt_get_or_create(text=text).id] = prompt_key(text)
    images = [
        Image(
            owner=owner,
            prompt_id=prompt_id,
            file=f"images/bench/{prompt_id}.png",
            thumb_small=f"thumbs/256/bench/{prompt_id}.webp",
            thumb_large=f"thumbs/768/bench/{prompt_id}.webp",
            width=512,
            height=512,
            sha256=f"{prompt_id:064x}",
        )
        for prompt_id in keys
    ]
    Image.objects.bulk_create(images, batch_size=1000)
    print(f"{len(keys):,} prompts and images stored in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    written = services.prompt_embeddings_backfill()
    took = time.perf_counter() - started
    print(f"{written:,} prompts embedded by the backfill in {took:.1f} s ({written / took:.0f}/s)")
    return keys


class _NoVectors:
    def search(self, **_: Any) -> list[tuple[int, float]]:
        return []


@contextmanager
def mode_patch(mode: str) -> Iterator[None]:
    """Switch one side of `gallery.search.images_search` off (``fused``: as shipped)."""
    from gallery import search

    if mode == "keyword":
        with mock.patch.object(search, "vector_index", lambda: _NoVectors()):
            yield
    elif mode == "semantic":
        with mock.patch.object(search, "prompts_keyword_search", lambda **_: []):
            yield
    else:
        yield


def ranked_keys(query: str, image_prompt: dict[int, int], keys: dict[int, str]) -> list[str]:
    """The app's search, best first, as prompt keys (one image per prompt here)."""
    from gallery.search import images_search
    from gallery.selectors import image_list

    hits = images_search(query=query, images=image_list(), filtered=False)
    seen: dict[str, None] = {}
    for hit in hits:
        seen.setdefault(keys[image_prompt[hit.image_id]], None)
        if len(seen) >= K:
            break
    return list(seen)


@dataclass
class Scores:
    recall: list[float]
    ndcg: list[float]

    def mean(self) -> tuple[float, float]:
        return sum(self.recall) / len(self.recall), sum(self.ndcg) / len(self.ndcg)


def evaluate(
    judgments: list[Judgment],
    image_prompt: dict[int, int],
    keys: dict[int, str],
    variant: Callable[[], Any] = nullcontext,
) -> dict[str, dict[str, Scores]]:
    """mode -> query kind (and "all") -> per-query scores."""
    result: dict[str, dict[str, Scores]] = {}
    for mode in MODES:
        by_kind: dict[str, Scores] = {}
        with variant(), mode_patch(mode):
            for judgment in judgments:
                ranked = ranked_keys(judgment.query, image_prompt, keys)
                r, n = recall_at_k(ranked, judgment.grades), ndcg_at_k(ranked, judgment.grades)
                for kind in ("all", judgment.kind):
                    scores = by_kind.setdefault(kind, Scores([], []))
                    scores.recall.append(r)
                    scores.ndcg.append(n)
        result[mode] = by_kind
    return result


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    return "\n".join(lines)


def print_main(result: dict[str, dict[str, Scores]], judgments: list[Judgment]) -> None:
    kinds = ["all", "keyword", "semantic", "mixed"]
    counts = {k: sum(1 for j in judgments if k in ("all", j.kind)) for k in kinds}
    rows = []
    for mode in MODES:
        row = [mode]
        for kind in kinds:
            r, n = result[mode][kind].mean()
            row.append(f"{r:.3f} / {n:.3f}")
        rows.append(row)
    headers = ["search", *(f"{k} ({counts[k]} q) R@10 / nDCG@10" for k in kinds)]
    print(table(headers, rows))


def print_per_query(result: dict[str, dict[str, Scores]], judgments: list[Judgment]) -> None:
    rows = []
    for i, judgment in enumerate(judgments):
        row = [judgment.query, judgment.kind, str(len(judgment.grades))]
        for mode in MODES:
            scores = result[mode]["all"]
            row.append(f"{scores.recall[i]:.2f} / {scores.ndcg[i]:.2f}")
        rows.append(row)
    print(table(["query", "kind", "rel", *(f"{m} R/nDCG" for m in MODES)], rows))


def print_unjudged(
    judgments: list[Judgment],
    image_prompt: dict[int, int],
    keys: dict[int, str],
    text_of: dict[str, str],
) -> None:
    """The top-10 prompts of semantic and fused search that no judgment names (for pooling)."""
    for judgment in judgments:
        shown: dict[str, None] = {}
        for mode in ("semantic", "fused"):
            with mode_patch(mode):
                for key in ranked_keys(judgment.query, image_prompt, keys):
                    if key not in judgment.grades:
                        shown.setdefault(key, None)
        print(f"\n{judgment.query}:")
        for key in shown:
            print(f"  {key} {text_of[key][:110]}")


def variants() -> list[tuple[str, Callable[[], Any]]]:
    """What-if settings of the fusion, applied for the run only."""
    from django.test import override_settings

    from gallery import search
    from prompts import keywords

    def rrf(k: int) -> Callable[[], Any]:
        return lambda: mock.patch.object(search, "RRF_K", k)

    def floor(value: float) -> Callable[[], Any]:
        return lambda: override_settings(SEARCH_MIN_SIMILARITY=value)

    def rank_limit(n: int) -> Callable[[], Any]:
        # The keyword side ranks only the first n matches (by id), even below k: how results
        # change where SEARCH_KEYWORD_RANK_LIMIT bites (on this small gallery it never does).
        return lambda: mock.patch.object(keywords, "_rank_limit", lambda k: n)

    def any_term() -> Any:
        # FTS5 with the terms OR-ed instead of AND-ed (each still a quoted string), bm25 ranked.
        def expression(query: str) -> str:
            terms = keywords.keyword_terms(query)
            return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)

        return mock.patch.object(keywords, "fts5_match_expression", expression)

    return [
        ("RRF k=10", rrf(10)),
        ("RRF k=20", rrf(20)),
        ("SEARCH_MIN_SIMILARITY 0.2", floor(0.2)),
        ("SEARCH_MIN_SIMILARITY 0.4", floor(0.4)),
        ("SEARCH_MIN_SIMILARITY 0.0", floor(0.0)),
        ("keyword terms OR-ed (FTS5)", any_term),
        ("keyword side ranks the first 50 matches", rank_limit(50)),
        ("keyword side ranks the first 20 matches", rank_limit(20)),
    ]


def most_keyword_matches(judgments: list[Judgment]) -> tuple[int, str]:
    """The largest number of prompts any query's keywords match (FTS5), and that query."""
    from django.db import connection

    from prompts.keywords import fts5_match_expression

    most = (0, "")
    with connection.cursor() as cursor:
        for judgment in judgments:
            expression = fts5_match_expression(judgment.query)
            if expression:
                cursor.execute(
                    "SELECT count(*) FROM prompts_prompt_fts WHERE prompts_prompt_fts MATCH %s",
                    [expression],
                )
                most = max(most, (int(cursor.fetchone()[0]), judgment.query))
    return most


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="recall@10 / nDCG@10 of the app's search")
    parser.add_argument("--per-query", action="store_true", help="print every query's scores")
    parser.add_argument(
        "--unjudged", action="store_true", help="print top-10 prompts not in the judgments"
    )
    parser.add_argument("--no-variants", action="store_true", help="skip the what-if settings")
    args = parser.parse_args(argv)
    var_dir = Path(tempfile.mkdtemp(prefix="atelier-relevance-"))
    try:
        search_corpus.django_setup(var_dir)
        from django.conf import settings
        from django.core.management import call_command

        from gallery import search
        from gallery.models import Image

        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"# Search relevance\n\n{os.cpu_count()} cores, load average {load}\n")
        call_command("migrate", verbosity=0, interactive=False)
        judgments = load_judgments()
        texts = search_corpus.real_prompts()
        keys = seed(texts)
        known = set(keys.values())
        missing = [k for j in judgments for k in j.grades if k not in known]
        if missing:
            raise SystemExit(f"judgments.json names prompts not in the CSV: {missing[:5]}")
        image_prompt = dict(Image.objects.values_list("id", "prompt_id"))
        relevant = sum(len(j.grades) for j in judgments)
        print(
            f"\n{len(judgments)} queries, {relevant} judged relevant prompts, "
            f"{len(texts):,} prompts; RRF k={search.RRF_K}, "
            f"SEARCH_MIN_SIMILARITY={settings.SEARCH_MIN_SIMILARITY}, "
            f"SEARCH_CANDIDATES={settings.SEARCH_CANDIDATES}, "
            f"SEARCH_KEYWORD_RANK_LIMIT={settings.SEARCH_KEYWORD_RANK_LIMIT}"
        )
        most, most_query = most_keyword_matches(judgments)
        print(f"Most keyword matches of any query: {most} ({most_query!r})\n")
        result = evaluate(judgments, image_prompt, keys)
        print_main(result, judgments)
        fused = result["fused"]["all"].mean()
        keyword, semantic = result["keyword"]["all"].mean(), result["semantic"]["all"].mean()
        beats = all(fused[i] > keyword[i] and fused[i] > semantic[i] for i in (0, 1))
        print(f"\nFused beats both sides on recall@10 and nDCG@10: {'yes' if beats else 'NO'}")
        if args.per_query:
            print()
            print_per_query(result, judgments)
        if args.unjudged:
            print_unjudged(judgments, image_prompt, keys, {prompt_key(t): t for t in texts})
        if not args.no_variants:
            print("\nWhat-if settings (same queries; fused line, and the side they change):\n")
            rows = []
            for label, variant in variants():
                varied = evaluate(judgments, image_prompt, keys, variant)
                row = [label]
                for mode in MODES:
                    r, n = varied[mode]["all"].mean()
                    row.append(f"{r:.3f} / {n:.3f}")
                rows.append(row)
            print(table(["variant", *(f"{m} R@10 / nDCG@10" for m in MODES)], rows))
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"\nLoad average at the end: {load}")
        return 0
    finally:
        if "django.db" in sys.modules:
            from django.db import connections

            connections.close_all()
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
