"""Write a rename (or a type change, a constraint) as two revisions, expand and contract,
that old and new code both live with.

During a deploy the old and the new application write the same table for minutes or
hours. pgroll's answer, written here as two ordinary Alembic files a DBA can read:

- **expand** (``make upgrade``): the new column, added without a rewrite; a PL/pgSQL
  trigger keeping old and new in step both ways (on INSERT whichever was given, on UPDATE
  whichever changed; the new one when both did); ``op.backfill`` for the rows already
  there; NOT NULL as a ``CHECK ... NOT VALID``. The trigger also notes, in
  ``tfsync_contract_watch``, when a write came through the old column alone, which only
  old code does: that is what ``make contract`` waits on (:mod:`..deploy.contract`).
- **contract** (``make contract``): validate the check, SET NOT NULL through it (no scan),
  drop the trigger, its function and the old column. Its downgrade brings the old column
  back from the new one.

A type change that rewrites the table is written the same way (:mod:`.retypes`), as are
NOT NULL, unique constraints and foreign keys on existing tables (:mod:`.constraint_pairs`).

It hooks into autogenerate through ``process_revision_directives``: the one
``MigrationScript`` autogenerate made becomes the expand, and a second one, the
contract, is added after it (:func:`write_pairs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from alembic.operations import ops
from alembic.util import rev_id
from sqlalchemy.engine import Connection

from terrafusion_sync.migrations.authoring.constraint_pairs import completes, split_constraints
from terrafusion_sync.migrations.authoring.rename_indexes import move_indexes
from terrafusion_sync.migrations.authoring.rename_sql import Halves, Ops, RenameSql
from terrafusion_sync.migrations.authoring.renames import Ask, Rename, RenameSpec, decide
from terrafusion_sync.migrations.authoring.retypes import retypes, split_retypes


@dataclass(frozen=True)
class Layout:
    """Where a pair of revisions goes in the history."""

    main_head: str | None
    """The parent of an ordinary or expand revision (None: Alembic's own ``head``)."""
    contract_head: str | None
    """The newest contract revision, parent of the next contract (None: none yet)."""
    splice: bool = False
    """The main head has a child (a contract): Alembic must be told to branch from it."""


def write_pairs(
    directives: list[ops.MigrationScript],
    renames: Sequence[RenameSpec],
    ask: Ask | None,
    layout: Layout,
    conn: Connection | None = None,
) -> list[str]:
    """Turn autogenerate's revision into expand + contract when it renames a column,
    changes a column's type in a way that rewrites or may fail (read from the database on
    ``conn``), or adds NOT NULL, a unique constraint or a foreign key to an existing table;
    the notes ``tfsync revision`` prints (NULLs a NOT NULL column has no default to fill
    from)."""
    expand = directives[0] if directives else None
    if expand is None or expand.upgrade_ops is None or expand.rev_id is None:
        return []  # nothing written, or a multi-database template: not ours to rewrite
    if layout.contract_head is not None and layout.main_head is not None:
        expand.head = layout.main_head  # "head" is ambiguous beside the contract branch
        expand.splice = layout.splice
    chosen = decide(expand.upgrade_ops, renames, ask)
    halves = Halves(expand.upgrade_ops, ops.UpgradeOps([]), ops.DowngradeOps([]))
    shared = _renames(halves, chosen)  # each rename's trigger SQL, in both files
    retired = [shared.pop()] if chosen else []  # the contract's ``retires``
    changed = split_retypes(halves, conn)
    if changed:
        shared += [f'{s.constant} = """{s.keep_in_step()}"""\n' for s in changed]
        shared.append(retypes(changed))
    finishes = split_constraints(halves)
    if not chosen and not changed and not finishes:
        return []
    markers = [*shared, *retired, *([completes(finishes)] if finishes else [])]
    contract = ops.MigrationScript(
        rev_id(),
        halves.contract,
        halves.contract_down,
        message=f"{expand.message} contract",
        imports={'phase = "contract"\n', *markers},
        head=layout.contract_head or expand.rev_id,
        depends_on=[expand.rev_id] if layout.contract_head else None,
        version_path=expand.version_path,
    )
    expand.message = f"{expand.message} expand"
    # a copy: Alembic's MigrationScript shares one default set between instances
    expand.imports = {*expand.imports, 'phase = "expand"\n', *shared}
    expand.downgrade_ops = halves.expand.reverse()
    directives.append(contract)
    notes = [RenameSql(r).note for r in chosen] + [f.note for f in finishes]
    return [n for n in notes if n]


def _renames(halves: Halves, chosen: list[Rename]) -> list[str]:
    """Each rename's halves put in; the lines both files share (each trigger function's
    SQL), then the contract's ``retires``."""
    shared = []
    for rename in chosen:
        sql = _split(halves.expand, rename)
        shared.append(f'{sql.constant} = """{sql.keep_in_step()}"""\n')
        halves.contract.ops.append(Ops(sql.contract_up, sql.contract_down))
        halves.contract_down.ops.insert(0, Ops(sql.contract_down, sql.contract_up))
        move_indexes(halves, rename)
    if chosen:
        retired = ", ".join(f"{f'{r.table}.{r.old.name}'!r}: {r.new.name!r}" for r in chosen)
        shared.append(f"retires = {{{retired}}}\n")
    return shared


def _split(expand: ops.UpgradeOps, rename: Rename) -> RenameSql:
    """Take the drop + add out of ``expand`` and put expand's half in; the rename's SQL."""
    for table_ops in expand.ops:
        if isinstance(table_ops, ops.ModifyTableOps):
            table_ops.ops = [o for o in table_ops.ops if o not in (rename.dropped, rename.added)]
    expand.ops = [o for o in expand.ops if not (isinstance(o, ops.ModifyTableOps) and not o.ops)]
    sql = RenameSql(rename)
    expand.ops.append(Ops(sql.expand_up, sql.expand_down))
    return sql
