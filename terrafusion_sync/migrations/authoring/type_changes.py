"""Which column type changes PostgreSQL makes in the catalog alone, and which it does not.

``ALTER COLUMN ... TYPE`` rewrites the table (and its indexes) under an ACCESS EXCLUSIVE
lock, or at least scans it, and may fail on a row whose value the new type cannot hold,
except for a few changes PostgreSQL knows to be binary compatible and never to fail.
Those stay one ordinary ``op.alter_column``; every other type change on an existing table
is written as expand + contract (:mod:`.retypes`). The rule is deliberately small: what
is not listed here is a pair.

- ``varchar(n)`` to ``varchar(m)`` with ``m >= n``, to unbounded ``varchar`` or ``text``;
  ``text`` to unbounded ``varchar`` and back;
- ``numeric(p, s)`` to ``numeric(p', s)`` with ``p' >= p``, or to unbounded ``numeric``;
- ``timestamp``/``time`` (with or without time zone, unchanged) to a wider precision;
- the same type.
"""

from __future__ import annotations

import re
from typing import Any

from terrafusion_sync.database import postgresql_dialect

_STRING = re.compile(r"(?:VARCHAR|CHARACTER VARYING)(?:\((\d+)\))?|TEXT")
_NUMERIC = re.compile(r"NUMERIC(?:\((\d+)(?:, *(\d+))?\))?")
_TIME = re.compile(r"(TIMESTAMP|TIME)(?:\((\d)\))?( WITH TIME ZONE| WITHOUT TIME ZONE)?")
_MAX_TIME_PRECISION = 6


def sql_type(type_: Any) -> str:
    """The type as PostgreSQL spells it (upper case), for a SQLAlchemy type or a string."""
    if isinstance(type_, str):
        return " ".join(type_.upper().split())
    compiled = type_.compile(dialect=postgresql_dialect())
    return " ".join(str(compiled).upper().split())


def rewrites_or_may_fail(old: Any, new: Any) -> bool:
    """False only for a change known not to rewrite the table and never to fail on a row."""
    before, after = sql_type(old), sql_type(new)
    if before == after:
        return False
    widened = (_wider_string, _wider_numeric, _wider_time)
    return not any(wider(before, after) for wider in widened)


def _wider_string(before: str, after: str) -> bool:
    old, new = _STRING.fullmatch(before), _STRING.fullmatch(after)
    if old is None or new is None:
        return False
    old_length, new_length = old.group(1), new.group(1)
    return new_length is None or (old_length is not None and int(new_length) >= int(old_length))


def _wider_numeric(before: str, after: str) -> bool:
    old, new = _NUMERIC.fullmatch(before), _NUMERIC.fullmatch(after)
    if old is None or new is None:
        return False
    if new.group(1) is None:
        return True  # unbounded numeric holds any numeric
    if old.group(1) is None:
        return False
    same_scale = int(old.group(2) or 0) == int(new.group(2) or 0)
    return same_scale and int(new.group(1)) >= int(old.group(1))


def _wider_time(before: str, after: str) -> bool:
    old, new = _TIME.fullmatch(before), _TIME.fullmatch(after)
    if old is None or new is None:
        return False
    zone = (old.group(3) or " WITHOUT TIME ZONE", new.group(3) or " WITHOUT TIME ZONE")
    if old.group(1) != new.group(1) or zone[0] != zone[1]:
        return False
    precision = [int(m.group(2)) if m.group(2) else _MAX_TIME_PRECISION for m in (old, new)]
    return precision[1] >= precision[0]
