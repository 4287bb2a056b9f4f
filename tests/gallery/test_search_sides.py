"""PostgreSQL: a search's keyword side on its own connection, beside the vector side."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db(transaction=True)  # committed rows: two connections see them


@pytest.fixture
def gallery(postgres_only, make_image, index_prompts):
    images = {
        "artist": make_image(prompt="dystopian cathedral, by Zdzislaw Beksinski, surreal, dark"),
        "cat": make_image(prompt="impressionist painting of a cat, soft brush strokes"),
        "city": make_image(prompt="cyberpunk city at night, neon lights, rain"),
    }
    index_prompts()
    return images


def _search(api, q: str) -> list[tuple[int, str]]:
    response = api.get("/api/search/", {"q": q})
    assert response.status_code == 200, response.content
    return [(hit["id"], hit["matched"]) for hit in response.json()["results"]]


def test_the_keyword_side_runs_on_a_second_connection_with_the_same_results(api, gallery, settings):
    with CaptureQueriesContext(connection) as captured:
        apart = _search(api, "beksinski cathedral")
    # The request's own connection ran the vector side only; the keyword match still came.
    assert not any("to_tsquery" in q["sql"] for q in captured.captured_queries)
    assert any("<=>" in q["sql"] for q in captured.captured_queries)
    assert apart[0] == (gallery["artist"].id, "both")
    settings.SEARCH_PARALLEL_SIDES = False
    with CaptureQueriesContext(connection) as captured:
        assert _search(api, "beksinski cathedral") == apart
    assert any("to_tsquery" in q["sql"] for q in captured.captured_queries)


def test_search_goes_on_after_the_database_drops_the_keyword_sides_connection(api, gallery):
    assert _search(api, "beksinski")[0][0] == gallery["artist"].id
    with connection.cursor() as cursor:  # as a server restart or an idle timeout would
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert cursor.fetchone()[0] == 1
    assert _search(api, "beksinski")[0] == (gallery["artist"].id, "both")


def test_inside_a_transaction_the_keyword_side_stays_on_the_requests_connection(
    gallery, make_image
):
    from django.contrib.auth.models import AnonymousUser
    from django.db import transaction

    from gallery.search import images_search
    from gallery.selectors import image_list

    with transaction.atomic():
        fresh = make_image(prompt="a lighthouse painted by Zdzislaw Beksinski")
        from prompts.services import prompt_embeddings_backfill

        prompt_embeddings_backfill()
        hits = images_search(
            query="beksinski", images=image_list(user=AnonymousUser()), filtered=False
        )
        # Uncommitted: only this connection can see it, so the keyword side must run here.
        assert fresh.id in [hit.image_id for hit in hits if hit.matched != "semantic"]
        transaction.set_rollback(True)


def test_while_the_thread_serves_another_search_a_request_runs_its_keyword_side_itself(
    api, gallery
):
    from gallery.search import keyword_side

    apart = _search(api, "beksinski cathedral")
    assert keyword_side._free.acquire(blocking=False)  # another request's search under way
    try:
        with CaptureQueriesContext(connection) as captured:
            assert _search(api, "beksinski cathedral") == apart
    finally:
        keyword_side._free.release()
    assert any("to_tsquery" in q["sql"] for q in captured.captured_queries)
