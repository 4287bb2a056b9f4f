"""Literal (keyword) search over prompt text: SQLite FTS5 or PostgreSQL full-text search.

Both read what people type into a search box: words, and "quoted phrases"; every term must
match (as in web search engines). User text never reaches a query parser unquoted: FTS5 gets
each term as a quoted string (its syntax, ``AND``, ``*``, ``:``, ``(``... is then inert) and
PostgreSQL gets ``websearch_to_tsquery``, which accepts any input. The FTS5 table and the GIN
index are created by migrations 0002 and 0005 (a stored, GIN-indexed ``search_vector`` column)
and kept current by the database itself.

Both rank at most ``SEARCH_KEYWORD_RANK_LIMIT`` matches. The index finds every match cheaply,
but ranking reads each matching row and scores it, so a term that a large share of the gallery
contains (an artist or style phrase: ~48,000 of 1M prompts) cost ~400 ms to keep 200. The first
N matches the index yields (after any filter) are ranked instead; below N matches nothing changes.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet

Hit = tuple[int, float]  # (prompt id, relevance, higher is better)

_TERM = re.compile(r'"([^"]*)"|(\w+)')
# PostgreSQL's english configuration drops these; FTS5 has no stop list, and requiring "a" or
# "of" would make every natural-language query fail on SQLite.
_STOPWORDS = frozenset(
    "a an and are as at be by for from in into is it of on or the this that to with".split()  # noqa: SIM905
)


def keyword_terms(query: str) -> list[str]:
    """Words and quoted phrases of a query, lower case, without stop words or punctuation."""
    terms: list[str] = []
    for phrase, word in _TERM.findall(query.replace("\x00", " ")):
        if phrase:
            words = re.findall(r"\w+", phrase.lower())
            if words:
                terms.append(" ".join(words))
        elif word.lower() not in _STOPWORDS:
            terms.append(word.lower())
    return terms


def fts5_match_expression(query: str) -> str:
    """An FTS5 MATCH string in which every term is a quoted string (implicit AND)."""
    return " ".join('"' + term.replace('"', '""') + '"' for term in keyword_terms(query))


def _within_sql(column: str, within: QuerySet | None) -> tuple[str, list[object]]:
    if within is None:
        return "", []
    sub_sql, sub_params = within.order_by().query.sql_with_params()
    return f" AND {column} IN ({sub_sql})", list(sub_params)


def _rank_limit(k: int) -> int:
    """How many matches are ranked: the setting, never fewer than the k asked for."""
    return max(int(settings.SEARCH_KEYWORD_RANK_LIMIT), int(k))


def prompts_keyword_search(*, query: str, k: int, within: QuerySet | None = None) -> list[Hit]:
    """The k prompts whose text best matches ``query``, best first.

    ``within`` (a flat queryset of prompt ids) restricts the search to those prompts.
    """
    if connection.vendor == "postgresql":
        text = query.replace("\x00", " ").strip()
        if not text:
            return []
        extra, extra_params = _within_sql("p.id", within)
        # The LIMIT stops the bitmap heap scan early; the filter stays inside it, before the cut.
        sql = (
            "SELECT m.id, ts_rank_cd(m.search_vector, m.q) AS rank FROM ("
            "SELECT p.id, p.search_vector, q "
            "FROM prompts_prompt p, websearch_to_tsquery('english', atelier_fold(%s)) q "
            f"WHERE p.search_vector @@ q{extra} LIMIT %s) m "
            "ORDER BY rank DESC, m.id DESC LIMIT %s"
        )
        params = [text, *extra_params, _rank_limit(k), int(k)]
    elif connection.vendor == "sqlite":
        expression = fts5_match_expression(query)
        if not expression:
            return []
        extra, extra_params = _within_sql("rowid", within)
        sql = (
            "SELECT m.id, m.rank FROM ("
            "SELECT rowid AS id, -bm25(prompts_prompt_fts) AS rank FROM prompts_prompt_fts "
            f"WHERE prompts_prompt_fts MATCH %s{extra} LIMIT %s) m "
            "ORDER BY m.rank DESC, m.id DESC LIMIT %s"
        )
        params = [expression, *extra_params, _rank_limit(k), int(k)]
    else:
        return []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(int(pid), float(rank)) for pid, rank in cursor.fetchall()]
