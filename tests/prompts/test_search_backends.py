"""Prompt embeddings, the vector index and keyword search, on SQLite and on PostgreSQL."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.management import call_command

from config.celery import app as celery_app
from prompts.embeddings import embedding_model_name, query_embed, vector_from_bytes
from prompts.keywords import fts5_match_expression, prompts_keyword_search
from prompts.models import Prompt, PromptEmbedding
from prompts.selectors import prompts_missing_embedding, prompts_nearest_style
from prompts.services import prompt_embeddings_update, prompt_get_or_create
from prompts.vectors import vector_index, vector_schema_ensure

pytestmark = pytest.mark.django_db

# What people (and robots) type into search boxes; shared by the API tests.
HOSTILE = [
    "&|!:*(",
    'AND OR NOT NEAR( "unbalanced',
    "x" * 10_000,
    "null\x00byte",
    "<script>alert(1)</script>",
    "col:umn ^start * -- ; DROP TABLE prompts_prompt;",
    "' OR 1=1 --",
    "\u202e\u0000\ufeff",
    "%%%",
    "",
    "   ",
]


def _prompt(text: str) -> Prompt:
    return prompt_get_or_create(text=text)


def _nearest(text: str, k: int = 3, **kwargs) -> list[int]:
    return [pid for pid, _ in vector_index().search(vector=query_embed(text=text), k=k, **kwargs)]


def test_a_kitten_painted_like_monet_finds_the_impressionist_cat(index_prompts):
    cat = _prompt("impressionist painting of a cat")
    _prompt("cyberpunk city at night, neon lights")
    _prompt("portrait of an old sailor, oil on canvas")
    index_prompts()
    assert _nearest("a kitten painted like Monet")[0] == cat.id


def test_a_new_prompt_is_embedded_by_the_task_once_its_row_is_committed(
    embedder, django_capture_on_commit_callbacks
):
    celery_app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            prompt = _prompt("a lighthouse in a storm, dramatic lighting")
            assert not PromptEmbedding.objects.filter(prompt=prompt).exists()
    finally:
        celery_app.conf.task_always_eager = False
    assert len(callbacks) == 1
    row = PromptEmbedding.objects.get(prompt=prompt)
    assert row.model == "all-MiniLM-L6-v2+onnx-int8" and row.dimensions == 384
    assert len(bytes(row.vector)) == 384 * 4
    assert _nearest("lighthouse during a storm", k=1) == [prompt.id]


def test_embedding_an_unchanged_prompt_again_writes_nothing(index_prompts):
    prompt = _prompt("a quiet forest lake at dawn")
    assert prompt_embeddings_update(prompt_ids=[prompt.id]) == 1
    assert prompt_embeddings_update(prompt_ids=[prompt.id]) == 0
    assert prompt_embeddings_update(prompt_ids=[prompt.id, 987654]) == 0  # missing id: skipped


def test_an_edited_prompt_text_is_found_by_its_new_words_only(index_prompts):
    prompt = _prompt("a red vintage car on a desert road")
    index_prompts()
    Prompt.objects.filter(pk=prompt.pk).update(text="a spaceship orbiting saturn")
    assert prompt_embeddings_update(prompt_ids=[prompt.id]) == 1
    assert [pid for pid, _ in prompts_keyword_search(query="spaceship", k=5)] == [prompt.id]
    assert prompts_keyword_search(query="vintage", k=5) == []
    hits = vector_index().search(vector=query_embed(text="a rocket near a ringed planet"), k=1)
    assert hits[0][0] == prompt.id and hits[0][1] > 0.4


def test_a_deleted_prompt_leaves_both_indexes(index_prompts):
    keep = _prompt("a castle on a hill")
    gone = _prompt("a castle on a cliff by the sea")
    index_prompts()
    assert set(_nearest("castle", k=5)) == {keep.id, gone.id}
    gone.delete()
    assert _nearest("castle", k=5) == [keep.id]
    assert [pid for pid, _ in prompts_keyword_search(query="castle", k=5)] == [keep.id]


def test_a_model_change_hides_old_vectors_until_reindex_rebuilds_them(index_prompts, settings):
    prompt = _prompt("a bowl of ramen, food photography")
    index_prompts()
    settings.EMBEDDING_MODEL = "renamed-minilm"
    assert _nearest("ramen noodles") == []
    out = io.StringIO()
    call_command("reindex_embeddings", stdout=out)
    assert "1/1" in out.getvalue() and "1 vectors written" in out.getvalue()
    assert PromptEmbedding.objects.get(prompt=prompt).model == embedding_model_name()
    assert embedding_model_name().startswith("renamed-minilm")
    assert _nearest("ramen noodles") == [prompt.id]


def test_reindex_embeds_in_resumable_batches_with_a_progress_bar(embedder):
    prompts = [_prompt(f"a watercolor of a {animal}") for animal in ("fox", "owl", "bear")]
    out = io.StringIO()
    call_command("reindex_embeddings", "--batch-size", "2", "--limit", "2", stdout=out)
    assert PromptEmbedding.objects.count() == 2
    assert "2/2" in out.getvalue()
    call_command("reindex_embeddings", stdout=io.StringIO())  # picks up where it stopped
    assert PromptEmbedding.objects.count() == 3
    out = io.StringIO()
    call_command("reindex_embeddings", "--all", "--after-id", str(prompts[0].id), stdout=out)
    assert "2/2" in out.getvalue() and "2 vectors written" in out.getvalue()


def test_filters_apply_inside_the_vector_search(index_prompts):
    near = [_prompt(f"impressionist painting of a cat, variant {i}") for i in range(5)]
    far = _prompt("a cat sleeping on a sofa, photo")
    index_prompts()
    allowed = Prompt.objects.filter(id__in=[far.id, near[0].id]).values_list("id", flat=True)
    # Unfiltered, the top 2 are both impressionist cats; within the filter, both allowed rows.
    assert set(_nearest("impressionist cat painting", k=2)) <= {p.id for p in near}
    assert set(_nearest("impressionist cat painting", k=2, within=allowed)) == {far.id, near[0].id}
    assert near[0].id not in _nearest("impressionist cat painting", k=5, exclude=[near[0].id])


def test_keyword_search_finds_a_rare_artist_name_and_quoted_phrases(db):
    artist = _prompt("dystopian cathedral, by Zdzisław Beksiński, surreal, dark")
    _prompt("a cathedral in the fog, photo")
    phrase = _prompt("a portrait of a red fox, studio lighting")
    _prompt("a red car next to a fox")
    assert [pid for pid, _ in prompts_keyword_search(query="beksinski", k=5)] == [artist.id]
    assert [pid for pid, _ in prompts_keyword_search(query='"red fox"', k=5)] == [phrase.id]


@pytest.mark.parametrize("query", HOSTILE)
def test_keyword_search_never_raises_on_hostile_input(db, query):
    _prompt("a kitten made of glass")
    assert isinstance(prompts_keyword_search(query=query, k=5), list)


def test_user_syntax_reaches_fts5_as_quoted_strings_only():
    assert fts5_match_expression('cat AND "red fox" NEAR(x*') == '"cat" "red fox" "near" "x"'
    assert fts5_match_expression("&|!:*(") == ""


def test_each_prompt_gets_the_vector_of_its_style_part_in_the_same_batch(index_prompts):
    painted = _prompt("a red fox in the snow, oil painting, golden hour, by greg rutkowski, 8k")
    plain = _prompt("a red fox in the snow")
    assert index_prompts() == 2
    row = PromptEmbedding.objects.get(prompt=painted)
    style = vector_from_bytes(row.style_vector)
    expected = query_embed(text="oil painting, golden hour, by greg rutkowski, 8k")
    assert float(style @ expected) > 0.99
    assert float(style @ vector_from_bytes(row.vector)) < 0.9
    # A prompt that is all subject: its style vector is its prompt vector, stored as b"".
    assert bytes(PromptEmbedding.objects.get(prompt=plain).style_vector) == b""


def test_rows_from_before_style_vectors_get_one_from_the_backfill_and_keep_their_vector(
    index_prompts,
):
    # GIVEN prompts embedded before style vectors existed
    prompts = [_prompt(f"a {animal} in a meadow, watercolor, soft light") for animal in "ab"]
    index_prompts()
    before = {row.prompt_id: row for row in PromptEmbedding.objects.all()}
    PromptEmbedding.objects.update(style_vector=None)
    assert set(prompts_missing_embedding()) == set(prompts)
    # WHEN the resumable backfill runs
    out = io.StringIO()
    call_command("reindex_embeddings", "--batch-size", "1", stdout=out)
    # THEN each gets its style vector; the prompt vector and its index entry stay as they were
    assert "2 vectors written" in out.getvalue()
    assert not prompts_missing_embedding().exists()
    for row in PromptEmbedding.objects.all():
        assert bytes(row.vector) == bytes(before[row.prompt_id].vector)
        assert row.updated == before[row.prompt_id].updated
        style = vector_from_bytes(row.style_vector)
        assert float(style @ query_embed(text="watercolor, soft light")) > 0.99
    assert index_prompts() == 0


def test_a_candidate_still_without_a_style_vector_is_ranked_by_the_first_stage(index_prompts):
    query = _prompt("a cat, by claude monet, impressionism")
    done = _prompt("a bridge over a pond, by claude monet, impressionism")
    waiting = _prompt("haystacks in a field, by claude monet")
    index_prompts()
    PromptEmbedding.objects.filter(prompt=waiting).update(style_vector=None)
    hits = dict(prompts_nearest_style(prompt_id=query.id, text=query.text))
    assert set(hits) == {done.id, waiting.id}
    assert hits[done.id] > 0.99  # the same style part
    style = vector_from_bytes(PromptEmbedding.objects.get(prompt=query).style_vector)
    first_stage = dict(vector_index().search(vector=style, k=5))
    assert hits[waiting.id] == pytest.approx(first_stage[waiting.id], abs=1e-4)


def test_a_term_in_more_prompts_than_the_rank_limit_still_fills_the_results(db, settings):
    # GIVEN a term that 15 prompts contain, and keyword ranking bounded to 10 matches
    settings.SEARCH_KEYWORD_RANK_LIMIT = 10
    castles = {_prompt(f"a castle on a hill, variant {i}").id for i in range(15)}
    _prompt("a lighthouse in a storm")
    # WHEN fewer or more results than the bound are asked for
    five = prompts_keyword_search(query="castle", k=5)
    twelve = prompts_keyword_search(query="castle", k=12)
    # THEN every result matches, and the bound never returns fewer than asked for
    assert len(five) == 5 and {pid for pid, _ in five} <= castles
    assert len(twelve) == 12 and {pid for pid, _ in twelve} <= castles


def test_a_filter_applies_before_the_rank_limit(db, settings):
    # GIVEN 15 matching prompts, and a filter that allows only the two created last
    settings.SEARCH_KEYWORD_RANK_LIMIT = 10
    castles = [_prompt(f"a castle on a hill, variant {i}") for i in range(15)]
    allowed = Prompt.objects.filter(id__in=[p.id for p in castles[-2:]]).values_list(
        "id", flat=True
    )
    # THEN both are found, though the bound would stop before them without the filter
    found = prompts_keyword_search(query="castle", k=5, within=allowed)
    assert {pid for pid, _ in found} == {p.id for p in castles[-2:]}


def test_below_the_rank_limit_the_closest_match_ranks_first(db, settings):
    settings.SEARCH_KEYWORD_RANK_LIMIT = 10
    for i in range(5):
        _prompt(f"a red barn, a fox far away in the field, variant {i}, oil painting, detailed")
    exact = _prompt("red fox, a red fox in the snow")
    assert prompts_keyword_search(query="red fox", k=3)[0][0] == exact.id


def _search_plan(vector: np.ndarray) -> str:
    """EXPLAIN of the ORDER BY statement one vector search runs (its SQL as captured, the
    parameters inlined), with the planner made to take the index if it can use it at all."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        vector_index().search(vector=vector, k=5)
    sql = next(q["sql"] for q in captured.captured_queries if "ORDER BY" in q["sql"])
    with connection.cursor() as cursor:
        # A few rows: the planner would rather sort them all.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_postgres_vector_search_is_served_by_the_hnsw_index(postgres_only, index_prompts):
    _prompt("a lighthouse in a storm, oil painting")
    _prompt("a kitten in a basket, photo")
    index_prompts()
    # The search must order by the very expression the index holds (halfvec, migration
    # 0008): a mismatch falls back to reading and sorting every vector.
    plan = _search_plan(query_embed(text="a stormy sea"))
    assert "Index Scan using prompts_promptembedding_hnsw" in plan


def test_postgres_a_model_of_another_dimension_gets_an_index_the_search_uses(
    postgres_only, db, settings
):
    settings.EMBEDDING_DIMENSIONS = 8
    assert vector_schema_ensure() is True
    assert vector_schema_ensure() is False  # already that dimension
    plan = _search_plan(np.full(8, 8**-0.5, dtype=np.float32))
    assert "Index Scan using prompts_promptembedding_hnsw" in plan


def test_postgres_keeps_the_searched_vector_in_the_row_not_in_toast(postgres_only, index_prompts):
    from django.db import connection

    # Prompt vector, style vector and pgvector column together pass the 2 KB TOAST threshold.
    prompt = _prompt("a red fox in the snow, oil painting, golden hour, by greg rutkowski, 8k")
    index_prompts()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_column_toast_chunk_id(embedding) IS NULL, "
            "pg_column_toast_chunk_id(vector) IS NULL FROM prompts_promptembedding "
            "WHERE prompt_id = %s",
            [prompt.id],
        )
        embedding_inline, blob_inline = cursor.fetchone()
    # Search reads the embedding of every hit to score it; the BLOBs go out of line instead.
    assert embedding_inline and not blob_inline
