"""Writing many rows with one statement: one array per column, `unnest`ed by Postgres.

The statement text never changes with the number of rows, so asyncpg prepares it once,
and a batch costs one round trip with a dozen parameters instead of thousands. That
keeps audit well ahead of the stream on a small machine.
"""

from __future__ import annotations

from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, Insert, insert


def insert_from_arrays(table: sa.Table, names: Sequence[str]) -> Insert:
    """`INSERT INTO table (names) SELECT * FROM unnest(:name::type[], ...)`; add ON CONFLICT to taste."""
    arrays = [sa.bindparam(name, type_=ARRAY(table.c[name].type)) for name in names]
    rows = sa.func.unnest(*arrays).table_valued(*names).render_derived()
    return insert(table).from_select(list(names), sa.select(*(rows.c[name] for name in names)))


def as_arrays(rows: Sequence[dict[str, Any]], names: Sequence[str]) -> dict[str, list[Any]]:
    """The parameters of an `insert_from_arrays` statement: rows turned into columns."""
    return {name: [row[name] for row in rows] for name in names}
