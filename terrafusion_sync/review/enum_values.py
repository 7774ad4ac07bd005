"""Enum values removed or renamed: findings read from the revision file itself.

alembic-postgresql-enum writes such a change as ``op.sync_enum_values``: the type is
recreated and every column of it cast to the new one, a rewrite of each of those tables
under an ACCESS EXCLUSIVE lock, and a row still holding a removed value makes the upgrade
fail. (An appended value is ``ALTER TYPE ... ADD VALUE``, which is safe: nothing here.)
The values before the change are those the downgrade restores. The pre-flight
(:mod:`terrafusion_sync.migrations.planning.preflight`) counts the live rows that hold a
removed value; this check needs no database.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from terrafusion_sync.review import codes
from terrafusion_sync.review.findings import Finding
from terrafusion_sync.review.revisions import RevisionFile

VALUE_REMOVED = codes.ENUM_VALUE_REMOVED.code
VALUE_RENAMED = codes.ENUM_VALUE_RENAMED.code


def enum_findings(rev: RevisionFile) -> list[Finding]:
    """TF430 and TF431 for each ``op.sync_enum_values`` in ``rev``'s upgrade."""
    upgrade, downgrade = rev.functions.get("upgrade"), rev.functions.get("downgrade")
    if upgrade is None:
        return []
    before = {name: values for name, values, _, _ in _syncs(downgrade)}
    findings = []
    for name, after, renamed, line in _syncs(upgrade):
        if renamed:
            pairs = ", ".join(f"{old!r} -> {new!r}" for old, new in renamed)
            what = f"{pairs} in enum type {name}"
            findings.append(_finding(rev, line, codes.ENUM_VALUE_RENAMED, what))
        gone = [v for v in before.get(name, ()) if v not in after and v not in dict(renamed)]
        if gone:
            values = ", ".join(repr(v) for v in gone)
            what = f"{values} from enum type {name}"
            findings.append(_finding(rev, line, codes.ENUM_VALUE_REMOVED, what))
    return findings


def _finding(rev: RevisionFile, line: int, code: codes.Code, what: str) -> Finding:
    title = code.title.split(" (")[0]
    why = codes.ENUM_VALUE_RENAMED.why  # the type recreated, the columns rewritten
    return Finding(rev.shown, line, code.code, f"{title}: {what}: {why}", code.hint())


def _syncs(
    fn: ast.FunctionDef | None,
) -> Iterator[tuple[str, list[str], list[tuple[str, str]], int]]:
    """``(enum name, new values, renamed pairs, line)`` of each ``op.sync_enum_values``."""
    for node in ast.walk(fn) if fn is not None else ():
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "sync_enum_values"
        ):
            continue
        given = dict(zip(("enum_schema", "enum_name", "new_values"), node.args, strict=False))
        given.update({k.arg: k.value for k in node.keywords if k.arg})
        try:
            name = ast.literal_eval(given["enum_name"])
            values = list(ast.literal_eval(given["new_values"]))
            renamed = [
                tuple(p) for p in ast.literal_eval(given.get("enum_values_to_rename", ast.List([])))
            ]
        except (KeyError, ValueError):
            continue
        yield name, values, renamed, node.lineno
