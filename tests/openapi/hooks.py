"""Hooks for the API contract run (schemathesis), loaded by tests/e2e/openapi.rs.

A list's `cursor` is opaque: only a `next_cursor` the API returned is one (any other is
`400 invalid_cursor`, which the document says). Generated ones are dropped, so generated
requests reach the rest of each list operation; paging itself is tested end to end.
"""

import schemathesis


@schemathesis.hook
def map_query(ctx, query):
    if query and "cursor" in query:
        query = {k: v for k, v in query.items() if k != "cursor"}
    return query
