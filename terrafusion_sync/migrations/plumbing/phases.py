"""Phases of a deploy: which revisions are ``expand``, which ``contract``, and what waits.

A revision file says its phase in one module-level line, ``phase = "expand"`` or
``phase = "contract"`` (no line: an ordinary revision), read like ``lock_timeout`` is, so
plain Alembic, the review, the fleet and the plan all see it. A contract revision also
names the columns it retires, with their new names:
``retires = {"table.old_column": "new_column"}``. A contract that finishes NOT NULL, a
unique constraint or a foreign key its expand began names them, and retires nothing:
``completes = {"table.column": "not null", "table.uq_name": "unique", "table.fk_name":
"foreign key"}``. A pair that changes a column's type names, in both files, the column
and the temporary column of the new type the contract renames to it:
``retypes = {"table.column": "column_tfsync_new"}``.

Why contract revisions form their own branch (as OpenStack Neutron's do): Alembic applies
a revision only after its parent, so a contract inside the main line would hold back
every revision written after it. Written by ``tfsync revision``, the first contract's
parent is its expand, and each later contract's parent is the previous contract, with
its own expand as a dependency (``depends_on``). The history then has two heads, the main
one and the contract one: ``make upgrade`` goes to the main head, ``make contract`` to
both, and Alembic applies each contract only once its expand is applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from alembic.script import Script, ScriptDirectory

from terrafusion_sync.errors import MigrationError
from terrafusion_sync.migrations.plumbing.alembic_errors import alembic_errors
from terrafusion_sync.migrations.plumbing.revisions import file_name
from terrafusion_sync.migrations.plumbing.steps import planned_steps

EXPAND = "expand"
CONTRACT = "contract"
PHASES = (EXPAND, CONTRACT)


def phase_of(script: Script) -> str | None:
    """``"expand"``, ``"contract"`` or None (an ordinary revision); refused if misspelt."""
    phase = getattr(script.module, "phase", None)
    if phase is not None and phase not in PHASES:
        raise MigrationError(
            f"revision {script.revision} ({file_name(script)}) has phase = {phase!r}",
            'write phase = "expand" or phase = "contract", or leave the line out',
        )
    return phase


def is_contract(script: Script) -> bool:
    """True for a contract revision: ``make upgrade`` leaves it for ``make contract``."""
    return phase_of(script) == CONTRACT


def retired_columns(script: Script) -> list[tuple[str, str]]:
    """``(table, column)`` of each old column a contract revision drops (its ``retires``)."""
    names: Iterable[str] = getattr(script.module, "retires", None) or ()
    return [(t, c) for t, _, c in (name.rpartition(".") for name in names) if t]


def renamed_columns(script: Script) -> list[tuple[str, str]]:
    """``(table, column)`` of the old and the new column of each rename a contract finishes:
    what autogenerate and the drift check leave alone while it waits."""
    retires = getattr(script.module, "retires", None) or {}
    pairs = retired_columns(script)
    news = retires.values() if isinstance(retires, dict) else []
    return pairs + [(table, new) for (table, _), new in zip(pairs, news, strict=False)]


def completed(script: Script) -> list[tuple[str, str]]:
    """``(table, column or constraint name)`` of what a contract revision ``completes``."""
    names: Iterable[str] = getattr(script.module, "completes", None) or ()
    return [(t, n) for t, _, n in (name.rpartition(".") for name in names) if t]


def retyped_columns(script: Script) -> list[tuple[str, str]]:
    """``(table, column)`` of each column whose type a pair changes, and of its temporary
    column of the new type (its ``retypes``)."""
    retypes = getattr(script.module, "retypes", None) or {}
    if not isinstance(retypes, dict):
        return []
    found = []
    for name, temporary in retypes.items():
        table, _, column = name.rpartition(".")
        if table:
            found += [(table, column), (table, temporary)]
    return found


def left_alone(script: Script) -> list[tuple[str, str]]:
    """What autogenerate and the drift check leave alone while the contract ``script``
    waits: its renames' old and new columns, its type changes' columns and their temporary
    columns, and what it ``completes``."""
    return renamed_columns(script) + retyped_columns(script) + completed(script)


def main_heads(scripts: ScriptDirectory) -> tuple[str, ...]:
    """Where ``make upgrade`` goes: the revisions that are not contracts and have no child
    but contracts (the first contract's parent is its expand, which may be the newest)."""
    with alembic_errors():
        every = list(scripts.walk_revisions())
    contracts = {s.revision for s in every if is_contract(s)}
    return tuple(
        s.revision
        for s in reversed(every)
        if s.revision not in contracts and not (set(s.nextrev) - contracts)
    )


def contract_head(scripts: ScriptDirectory) -> str | None:
    """The newest contract revision (the contract branch's head), if there is one."""
    with alembic_errors():
        found = [h for h in scripts.get_heads() if is_contract(scripts.get_revision(h))]
    return found[0] if found else None


def upgrade_target(scripts: ScriptDirectory, target: str, *, contract: bool) -> str:
    """Where an upgrade to ``target`` goes: ``head`` means the main head unless ``contract``.

    ``heads`` (every head, as in Alembic) and a named revision are left alone: Alembic
    applies what they need, contract revisions included (the test database, the review).
    """
    if target != "head":
        return target
    if contract:
        return "heads"
    if contract_head(scripts) is None:
        return target  # no contract branch: Alembic's own meaning, several heads included
    main = main_heads(scripts)
    if len(main) != 1:
        raise MigrationError(
            f"the history has {len(main)} heads besides the contract branch: {', '.join(main)}",
            "merge them with `alembic merge` so an upgrade has one place to go",
        )
    return main[0]


def waiting(scripts: ScriptDirectory, current: Sequence[str]) -> list[Script]:
    """The contract revisions not applied to a database at ``current``, oldest first."""
    with alembic_errors():
        steps = planned_steps(scripts, "heads", tuple(current), upgrading=True)
    return [step.revision for step in steps if is_contract(step.revision)]
