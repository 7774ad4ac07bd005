"""Phases of a deploy: which revisions are ``expand``, which ``contract``, and what waits.

A revision file says its phase in one module-level line, ``phase = "expand"`` or
``phase = "contract"`` (no line: an ordinary revision), read like ``lock_timeout`` is, so
plain Alembic, the review, the fleet and the plan all see it. A contract revision also
names the columns it retires: ``retires = ("table.old_column",)``.

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
from terrafusion_sync.migrations.plumbing.revisions import file_name, pending

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
    names: Iterable[str] = getattr(script.module, "retires", ()) or ()
    return [tuple(name.rsplit(".", 1)) for name in names if "." in name]  # type: ignore[misc]


def main_heads(scripts: ScriptDirectory) -> tuple[str, ...]:
    """The heads that are not contract revisions: where ``make upgrade`` goes."""
    with alembic_errors():
        heads = scripts.get_heads()
        return tuple(h for h in heads if not is_contract(scripts.get_revision(h)))


def contract_head(scripts: ScriptDirectory) -> str | None:
    """The newest contract revision (the contract branch's head), if there is one."""
    with alembic_errors():
        found = [h for h in scripts.get_heads() if is_contract(scripts.get_revision(h))]
    return found[0] if found else None


def upgrade_target(scripts: ScriptDirectory, target: str, *, contract: bool) -> str:
    """Where an upgrade to ``target`` goes: ``head`` means the main head unless ``contract``.

    A named revision is left alone (Alembic applies what it needs, contracts included).
    """
    if contract or target not in ("head", "heads"):
        return "heads" if contract and target == "head" else target
    with alembic_errors():
        every = scripts.get_heads()
    main = main_heads(scripts)
    if len(main) == len(every):
        return target  # no contract branch: Alembic's own meaning, several heads included
    if len(main) != 1:
        raise MigrationError(
            f"the history has {len(main)} heads besides the contract branch: {', '.join(main)}",
            "merge them with `alembic merge` so an upgrade has one place to go",
        )
    return main[0]


def waiting(scripts: ScriptDirectory, current: Sequence[str]) -> list[Script]:
    """The contract revisions not applied to a database at ``current``, oldest first."""
    with alembic_errors():
        heads = tuple(scripts.get_heads())
    return [s for s in pending(scripts, heads, current) if is_contract(s)]
