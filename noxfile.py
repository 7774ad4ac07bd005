"""Sessions for the migrations workflow. Each installs, then runs one command of the package.

`nox -l` lists them; `make` gives them short names. Arguments after `--` go to the command.
"""

import hashlib
import os
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["test", "review"]

PYPROJECT = nox.project.load_toml("pyproject.toml")


def install(session: nox.Session, *groups: str) -> None:
    """The package (editable) and the named dependency groups from pyproject.toml.

    Once per environment and pyproject.toml: asked again, uv rebuilds the editable package
    and revalidates every requirement with the index, and compileall starts a process,
    seconds on every `make test` for nothing. A stamp in the environment records what it
    was installed from.

    All compiled to bytecode ahead where PYTHONDONTWRITEBYTECODE is set, as in many
    containers and CI images: there every command would otherwise compile SQLAlchemy,
    Alembic and this package again before doing anything. Elsewhere Python compiles what a
    command imports on its first use and keeps it, a fraction of compiling everything.
    """
    requirements = [r for g in groups for r in nox.project.dependency_groups(PYPROJECT, g)]
    wanted = hashlib.sha256(Path("pyproject.toml").read_bytes() + repr(groups).encode())
    stamp = session.env_dir / ".tfsync-installed"
    if not stamp.is_file() or stamp.read_text() != wanted.hexdigest():
        ahead = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))
        session.install("-e", ".", *requirements, env={"UV_COMPILE_BYTECODE": str(int(ahead))})
        if ahead:  # the package too; a file edited later costs its own compile only
            session.run("python", "-m", "compileall", "-q", "terrafusion_sync", silent=True)
        stamp.write_text(wanted.hexdigest())


def tfsync(session: nox.Session, *args: str) -> None:
    """Run one `python -m terrafusion_sync` command."""
    session.run("python", "-m", "terrafusion_sync", *args)


@nox.session(default=False)
def upgrade(session: nox.Session) -> None:
    """Bring the application database to head (or the revision given after --)."""
    install(session)
    tfsync(session, "upgrade", *session.posargs)


@nox.session(default=False)
def rehearse(session: nox.Session) -> None:
    """Run the pending upgrade on a copy of the database's rows, measured; the copy is dropped."""
    install(session)
    tfsync(session, "rehearse", *session.posargs)


@nox.session(default=False)
def downgrade(session: nox.Session) -> None:
    """Step the application database back to the revision given after -- (required)."""
    install(session)
    tfsync(session, "downgrade", *session.posargs)


@nox.session(default=False)
def revision(session: nox.Session) -> None:
    """Autogenerate a revision from the models: nox -s revision -- "add owner email"."""
    install(session, "lint")
    tfsync(session, "revision", *session.posargs)


@nox.session(default=False)
def init(session: nox.Session) -> None:
    """Autogenerate the initial revision, only when versions/ is empty."""
    install(session, "lint")
    tfsync(session, "init", *session.posargs)


@nox.session
def test(session: nox.Session) -> None:
    """Bring the test database to head, then run pytest (arguments after -- go to pytest).

    The whole suite (no arguments) includes pytest-alembic's interop test, in its session.
    """
    install(session, "test")
    tfsync(session, "test", *session.posargs)
    if not session.posargs:
        session.notify("pytest_alembic")


@nox.session(default=False)
def pytest_alembic(session: nox.Session) -> None:
    """pytest-alembic on our migrations (tests/interop/), with the pytest it supports (<9)."""
    install(session, "pytest-alembic")
    tfsync(session, "test", "tests/interop", *session.posargs)


@nox.session
def review(session: nox.Session) -> None:
    """The gate before merge: lint, types, history, drift, stairway, unsafe SQL, seals."""
    install(session, "review")
    tfsync(session, "review", *session.posargs)


@nox.session(default=False)
def status(session: nox.Session) -> None:
    """Which database, its revision, head, and the pending revisions."""
    install(session)
    tfsync(session, "status", *session.posargs)


@nox.session(default=False)
def docs(session: nox.Session) -> None:
    """Write docs/schema.md: the models' ER diagram and the revision graph (Mermaid)."""
    install(session)
    tfsync(session, "docs", *session.posargs)


@nox.session(default=False)
def sql(session: nox.Session) -> None:
    """The SQL an upgrade would run, for a DBA to read: nox -s sql -- [FROM:]TO."""
    install(session)
    tfsync(session, "sql", *session.posargs)


@nox.session(default=False)
def history(session: nox.Session) -> None:
    """Every migration step run on the database: revision, who, when, result."""
    install(session)
    tfsync(session, "history", *session.posargs)


@nox.session(default=False)
def backfill(session: nox.Session) -> None:
    """Backfills (op.backfill): nox -s backfill -- status | retry|pause|resume|cancel REV."""
    install(session)
    tfsync(session, "backfill", *session.posargs)


@nox.session(default=False)
def validate(session: nox.Session) -> None:
    """Check that applied revision files are unchanged since they were applied."""
    install(session)
    tfsync(session, "validate", *session.posargs)


@nox.session(default=False)
def squash(session: nox.Session) -> None:
    """Fold revisions into one proven baseline: nox -s squash -- --through REV [--force]."""
    install(session)
    tfsync(session, "squash", *session.posargs)


@nox.session(default=False)
def rebase(session: nox.Session) -> None:
    """Two heads after a merge: move this branch's revisions onto the other head, review."""
    install(session, "review")
    tfsync(session, "rebase", *session.posargs)


@nox.session(default=False)
def fleet(session: nox.Session) -> None:
    """Every database of fleet.toml: nox -s fleet -- status | upgrade | rehearse | backfill."""
    install(session)
    tfsync(session, "fleet", *session.posargs)


@nox.session(default=False)
def lint(session: nox.Session) -> None:
    """Fix what ruff can fix, format the code, then type-check the package (mypy, strict)."""
    install(session, "lint")
    session.run("ruff", "check", "--fix", ".")
    session.run("ruff", "format", ".")
    session.run("mypy")


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks, measured side by side and printed as ratios (names after -- pick some)."""
    install(session, "bench")
    session.run("python", "-m", "bench.run", *session.posargs)


@nox.session(name="db-stop", default=False)
def db_stop(session: nox.Session) -> None:
    """Stop the embedded PostgreSQL."""
    install(session)
    tfsync(session, "db-stop")
