"""Every use of another library's internals, each behind one small function that names it.

A private name, a renamed function or a message text can change in any release without a
deprecation. Kept here, each assumption is written once, and ``tests/test_compat.py`` pins
every one against the installed libraries: an upgrade that breaks one fails there, loudly,
rather than somewhere deep in a deploy. Nothing of the package is imported here.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType, ModuleType
from typing import TYPE_CHECKING, Any

try:  # SQLAlchemy 2.1 renamed ``await_only`` to ``await_``
    from sqlalchemy.util.concurrency import await_
except ImportError:  # pragma: no cover - SQLAlchemy 2.0
    from sqlalchemy.util.concurrency import await_only as await_  # type: ignore[attr-defined,no-redef,unused-ignore]  # 2.0's name

if TYPE_CHECKING:
    from alembic.autogenerate.api import AutogenContext
    from alembic.runtime.migration import RevisionStep
    from alembic.script import ScriptDirectory
    from alembic.util.langhelpers import PriorityDispatcher
    from sqlalchemy.types import TypeEngine

__all__ = [
    "ALEMBIC_LOADERS",
    "alembic_message_kind",
    "alembic_steps",
    "await_",
    "caller_frame",
    "each_entity_definition_once",
    "forget_pgserver_handle",
    "loading_frames",
    "pglast_message",
    "render_type",
    "replace_comparator",
]


def caller_frame(depth: int = 1) -> FrameType | None:
    """The frame ``depth`` calls above the function calling this one (1: its caller).

    ``sys._getframe`` is CPython's (underscored, though documented): walking
    ``traceback``'s objects instead would cost a stack extract per SQL statement.
    """
    try:
        return sys._getframe(depth + 1)
    except ValueError:  # the stack is not that deep
        return None


def alembic_steps(
    scripts: ScriptDirectory, target: str, heads: Any, *, upgrading: bool
) -> list[RevisionStep]:
    """The steps Alembic itself would run from ``heads`` to ``target``, in order.

    Alembic keeps this in the private ``ScriptDirectory._upgrade_revs`` /
    ``_downgrade_revs``, which ``alembic.command.upgrade`` uses too (as does pytest-alembic).
    """
    if upgrading:
        return list(scripts._upgrade_revs(target, heads))
    return list(scripts._downgrade_revs(target, heads))


ALEMBIC_LOADERS = frozenset({"load_python_file", "load_module_py"})
"""The functions of ``alembic.util.pyfiles`` that import env.py and the revision files."""


def loading_frames(frames: Sequence[traceback.FrameSummary]) -> list[int]:
    """The indexes of ``frames`` (a traceback, outermost first) where Alembic loads a file."""
    return [
        i for i, f in enumerate(frames) if f.name in ALEMBIC_LOADERS and "alembic" in f.filename
    ]


_ALEMBIC_MESSAGES = {
    "unknown revision": ("can't locate revision", "no such revision"),
    "several heads": ("multiple head",),
    "too far": ("relative revision",),
    "not at head": ("not up to date",),
}
"""Alembic's ``CommandError`` / ``RevisionError`` carry no kind: only their texts tell."""


def alembic_message_kind(message: str) -> str | None:
    """Which of :data:`_ALEMBIC_MESSAGES`' kinds an Alembic error's message is, if known."""
    lowered = message.lower()
    for kind, texts in _ALEMBIC_MESSAGES.items():
        if any(text in lowered for text in texts):
            return kind
    return None


def forget_pgserver_handle(pgserver: ModuleType, pgdata: Path) -> None:
    """Drop pgserver's cached handle of a half-started server (its private ``_instances``),
    so that the next ``get_server`` starts afresh instead of returning the broken one."""
    pgserver.PostgresServer._instances.pop(pgdata.resolve(), None)


def pglast_message(error: Exception) -> str:
    """pglast's ``ParseError`` text without its ``, at index N`` tail (it points into the
    SQL we wrapped the user's text in, not into what the user wrote)."""
    return str(error).split(", at index")[0]


def replace_comparator(
    dispatcher: PriorityDispatcher,
    original: Callable[..., Any],
    replacement: Callable[..., Any],
) -> int:
    """Put ``replacement`` wherever ``original`` stands among ``dispatcher``'s comparators
    (Alembic's global ``alembic.autogenerate.comparators``, or a ``branch()`` of it); how
    many places it took.

    Alembic keeps them in the private ``PriorityDispatcher._registry``: lists of
    ``(function, subgroup)`` per target, qualifier and priority. A library that registered
    one with ``dispatch_for`` (alembic_utils does) has no public way to take it back out.
    """
    replaced = 0
    for entries in dispatcher._registry.values():
        for index, (fn, subgroup) in enumerate(entries):
            if fn is original:
                entries[index] = (replacement, subgroup)
                replaced += 1
    return replaced


def render_type(type_: TypeEngine[Any], autogen_context: AutogenContext) -> str:
    """A column type written as autogenerate writes it in a revision (``sa.String(length=20)``;
    a dialect's type adds its import to ``autogen_context.imports``).

    Alembic's private ``render._repr_type``: its public renderers write whole operations.
    """
    from alembic.autogenerate.render import _repr_type

    return _repr_type(type_, autogen_context)


@contextmanager
def each_entity_definition_once() -> Iterator[None]:
    """While it lasts, what PostgreSQL makes of an alembic_utils entity is worked out once
    per entity and set of dependencies: the library's comparator asks twice in a row (each
    time creating the entity twice in savepoints), which is most of what comparing costs.

    The library's own ``ReplaceableEntity.get_database_definition(sess, dependencies=...)``,
    replaced on its class, and put back after.
    """
    from alembic_utils.replaceable_entity import ReplaceableEntity

    original = ReplaceableEntity.get_database_definition
    known: dict[tuple[int, tuple[int, ...]], Any] = {}

    def once(self: Any, sess: Any, dependencies: Any = None) -> Any:
        key = (id(self), tuple(id(d) for d in dependencies or ()))
        if key not in known:
            known[key] = original(self, sess, dependencies=dependencies)
        return known[key]

    # mypy forbids assigning to a method
    ReplaceableEntity.get_database_definition = once  # type: ignore[method-assign]
    try:
        yield
    finally:  # and put back
        ReplaceableEntity.get_database_definition = original  # type: ignore[method-assign]
