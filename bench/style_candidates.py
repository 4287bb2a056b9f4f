"""Does the two-stage "Explore this style" find the prompts an exact style search would?

`prompts.selectors.prompts_nearest_style` takes `SEARCH_STYLE_CANDIDATES` prompts from the
whole-prompt vector index (searched with the query's style vector) and re-ranks them by stored
style vectors; a second index over style vectors would be exact but double the HNSW build time
and memory. This measures, on a recombined corpus of real prompts (`search_corpus.corpus`),
recall@24 of that two-stage ranking against exact style-vs-style search, for several candidate
counts, and for the first stage alone (style vector against whole-prompt vectors, no re-rank).
Stage one is exact here (numpy), so ANN misses (bench/search.py) come on top.

    .venv/bin/python bench/style_candidates.py --size 10000 --queries 200 [--keyword] [--app]

``--app`` also loads the corpus into SQLite and ranks with the shipped
`prompts_nearest_style` (vector and keyword candidates, style re-rank), end to end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import search_corpus  # noqa: E402

TOP = 24  # the image page's strip
DUPLICATE = 0.999
OBVIOUS = 0.9  # style cosine of an "obvious" match: the same style words, near enough


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--candidates", default="50,100,300,1000")
    parser.add_argument("--keyword", action="store_true", help="Also try keyword candidates.")
    parser.add_argument("--vectors", type=Path, help="Keep the embeddings in this .npz file.")
    parser.add_argument(
        "--app",
        action="store_true",
        help="Also rank with the shipped prompts_nearest_style (SQLite: FTS5 and numpy index).",
    )
    args = parser.parse_args(argv)
    search_corpus.django_setup(Path(tempfile.mkdtemp(prefix="atelier-style-")))
    from prompts.embeddings import prompt_style_text, texts_embed
    from prompts.keywords import keyword_terms

    texts = list(dict.fromkeys(search_corpus.corpus(args.size)))
    styles = [prompt_style_text(text=t) for t in texts]
    distinct = sorted(set(texts) | set(styles))
    if args.vectors and args.vectors.exists():
        by_text = dict(zip(distinct, np.load(args.vectors)["vectors"], strict=True))
    else:
        started = time.perf_counter()
        matrix = texts_embed(texts=distinct)
        print(f"{len(distinct)} distinct texts embedded in {time.perf_counter() - started:.0f} s")
        if args.vectors:
            np.savez(args.vectors, vectors=matrix)
        by_text = dict(zip(distinct, matrix, strict=True))
    print(f"{len(texts)} prompts, {len(set(styles))} distinct style parts")
    whole = np.stack([by_text[t] for t in texts])
    style = np.stack([by_text[s] for s in styles])
    rng = np.random.default_rng(7)
    picks = rng.choice(len(texts), size=min(args.queries, len(texts)), replace=False)
    ks = [int(k) for k in args.candidates.split(",")]
    recalls: dict[str, list[float]] = {f"k={k}": [] for k in ks} | {"first stage only": []}
    app_ids = _load_into_app(texts, styles, by_text) if args.app else None
    if app_ids is not None:
        recalls["shipped prompts_nearest_style"] = []
        row_of = {pid: row for row, pid in enumerate(app_ids)}
    if args.keyword:
        recalls["k=300 + keyword 300"] = []
        terms = [set(keyword_terms(t)) for t in texts]
        by_terms = range(len(texts))
    means: dict[str, list[float]] = {name: [] for name in recalls} | {"exact": []}
    obvious: dict[str, list[float]] = {name: [] for name in recalls}
    for q in picks:
        keep = whole @ whole[q] < DUPLICATE  # the prompt itself and its duplicates
        exact_scores = np.where(keep, style @ style[q], -np.inf)
        exact = np.argsort(-exact_scores, kind="stable")[:TOP]
        # Ties (identical style parts) make "exact" ambiguous: a hit is counted by score.
        cut = exact_scores[exact].min()
        plain = int((exact_scores >= OBVIOUS).sum())  # near-identical style parts
        means["exact"].append(float(exact_scores[exact].mean()))
        first = np.argsort(-np.where(keep, whole @ style[q], -np.inf), kind="stable")
        found = {"first stage only": first[:TOP]}
        for k in ks:
            candidates = first[:k]
            found[f"k={k}"] = candidates[np.argsort(-exact_scores[candidates], kind="stable")][:TOP]
        if args.keyword:
            # The keyword index, queried with the style part (every term must match), adds its
            # candidates; bm25 ranks short prompts first, as approximated here.
            wanted_terms = set(keyword_terms(styles[q]))
            matches = [i for i in by_terms if wanted_terms <= terms[i] and keep[i]]
            matches.sort(key=lambda i: len(terms[i]))
            union = np.array(sorted(set(first[:300].tolist()) | set(matches[:300])))
            ranked = union[np.argsort(-exact_scores[union], kind="stable")][:TOP]
            found["k=300 + keyword 300"] = ranked
        if app_ids is not None:
            from prompts.selectors import prompts_nearest_style

            hits = prompts_nearest_style(prompt_id=app_ids[q], text=texts[q])
            found["shipped prompts_nearest_style"] = np.array(
                [row_of[pid] for pid, _ in hits[:TOP]], dtype=int
            )
        for name, top in found.items():
            recalls[name].append(min(int((exact_scores[top] >= cut - 1e-6).sum()), TOP) / TOP)
            means[name].append(float(exact_scores[top].mean()))
            if plain:
                wanted = min(plain, TOP)
                obvious[name].append(
                    min(int((exact_scores[top] >= OBVIOUS).sum()), wanted) / wanted
                )
    print(
        f"exact style search: mean style cosine of the top {TOP} {np.mean(means['exact']):.3f}; "
        f"{len(obvious['first stage only'])} of {len(picks)} queries have a prompt at style "
        f"cosine >= {OBVIOUS}"
    )
    for name, values in recalls.items():
        print(
            f"{name}: recall@{TOP} vs exact {np.mean(values):.3f} (worst {np.min(values):.2f}), "
            f"mean style cosine {np.mean(means[name]):.3f}, "
            f"obvious matches found {np.mean(obvious[name]) if obvious[name] else 0:.3f}"
        )
    return 0


def _load_into_app(texts: list[str], styles: list[str], by_text: dict) -> list[int]:
    """The corpus as prompt rows with both vectors, in a fresh SQLite database (FTS5 filled by
    its triggers); the prompt id of each text, in order."""
    from django.core.management import call_command
    from django.utils import timezone

    from prompts.embeddings import embedding_model_name, text_hash, vector_to_bytes
    from prompts.models import PromptEmbedding
    from prompts.services import prompt_get_or_create

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    ids = [prompt_get_or_create(text=text).id for text in texts]
    model, now = embedding_model_name(), timezone.now()
    PromptEmbedding.objects.bulk_create(
        [
            PromptEmbedding(
                prompt_id=pid,
                model=model,
                dimensions=384,
                vector=vector_to_bytes(by_text[text]),
                style_vector=b"" if style == text else vector_to_bytes(by_text[style]),
                text_hash=text_hash(text),
                updated=now,
            )
            for pid, text, style in zip(ids, texts, styles, strict=True)
        ],
        batch_size=2000,
    )
    print(f"loaded into SQLite in {time.perf_counter() - started:.0f} s")
    return ids


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
