"""Pictures of the schema and the history (README: "Pictures"): ``docs/schema.md`` tells the
truth about the models and the revisions, is the same bytes every time, is checked by the
review (TF601), and ``tfsync status --graph`` marks where a real database stands.

The Mermaid text is read back with small parsers here, and compared with what SQLAlchemy
and Alembic themselves say, so the picture cannot lie by omission.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import ruff
import sqlalchemy as sa
from alembic import command
from sqlalchemy import MetaData
from sqlalchemy.engine import URL

from terrafusion_sync import migrations, pictures
from terrafusion_sync.aio import run_blocking
from terrafusion_sync.cli import main
from terrafusion_sync.core_models import Base
from terrafusion_sync.migrations.plumbing.config import script_directory
from terrafusion_sync.migrations.plumbing.write_hooks import IN_PROCESS, hook_argv, ruff_binary
from terrafusion_sync.pictures import follow
from terrafusion_sync.pictures.mermaid import column_type, er_diagram, node_id
from terrafusion_sync.review import review
from terrafusion_sync.settings import PROJECT_DIR

from helpers import CHAIN, HEAD, fixture_on_head, models, project_copy, run_process

on_loop = pytest.mark.asyncio(loop_scope="session")

FIXTURES = Path(__file__).parent / "revisions"
BRANCH_A = "2026_12_01_1000-bad000000008_add_report_number_sequence.py"
BRANCH_B = "2026_12_01_1000-good00000103_backfill_report_status.py"
MERGE = "2026_12_01_1000-good00000104_merge_heads.py"
AWKWARD = 'fix "quoted" [brackets] (parens) #12; <b>bold</b> & `code` | pipe'


def linked_models() -> MetaData:
    """The models, plus foreign keys of every kind: required, optional, composite,
    self-referencing, one-to-one; and a table whose name is not a plain word."""
    metadata = models("owner_email")
    jobs = metadata.tables["report_jobs"]
    jobs.append_column(
        sa.Column(
            "property_id", sa.Integer, sa.ForeignKey("property_operational.id"), nullable=False
        )
    )
    sa.Table(
        "parcel-history",
        metadata,
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("parent_id", sa.BigInteger, sa.ForeignKey("parcel-history.id")),
        sa.Column("county_id", sa.String(32)),
        sa.Column("parcel_number", sa.String(64)),
        sa.Column("weird name", sa.Double),
        sa.ForeignKeyConstraint(
            ["county_id", "parcel_number"],
            ["property_operational.county_id", "property_operational.parcel_number"],
        ),
    )
    sa.Table(
        "report_receipts",
        metadata,
        sa.Column(
            "report_id", sa.String(36), sa.ForeignKey("report_jobs.report_id"), primary_key=True
        ),
    )
    return metadata


def parse_er(text: str) -> tuple[dict[str, dict[str, tuple[str, set[str]]]], set[tuple]]:
    """``{table: {column: (type, keys)}}`` and ``{(parent, card, child, label)}``."""
    tables: dict[str, dict[str, tuple[str, set[str]]]] = {}
    links = set()
    current = None
    for line in text.splitlines()[1:]:
        line = line.strip()
        if line.endswith("{"):
            current = line[:-1].strip().strip('"')
            tables[current] = {}
        elif line == "}":
            current = None
        elif current is not None:
            match = re.fullmatch(r'(\S+) (\S+)((?: [PFU]K,?)*)(?: "([^"]*)")?', line)
            assert match, line
            type_, name, keys, comment = match.groups()
            if comment and "column " in comment:  # an escaped name: the real one is noted
                name = comment.split("column ")[-1]
            tables[current][name] = (type_, set(re.findall(r"[PFU]K", keys)))
        else:
            match = re.fullmatch(r'("[^"]+"|\w+) (\S+) ("[^"]+"|\w+) : "([^"]*)"', line)
            assert match, line
            parent, card, child, label = match.groups()
            links.add((parent.strip('"'), card, child.strip('"'), label))
    return tables, links


def parse_flowchart(text: str) -> tuple[dict[str, str], set[tuple[str, str]], dict[str, list]]:
    """``{node: label}``, ``{(from, to)}`` (solid edges) and ``{class: [nodes]}``."""
    nodes, edges, classes = {}, set(), {}
    for line in text.splitlines()[1:]:
        line = line.strip()
        if match := re.fullmatch(r'(\w+)(?:\(|\{\{)"([^"]*)"(?:\)|\}\})', line):
            nodes[match[1]] = match[2]
        elif match := re.fullmatch(r"(\w+) --> (\w+)", line):
            edges.add((match[1], match[2]))
        elif match := re.fullmatch(r"class ([\w,]+) (\w+)", line):
            classes[match[2]] = match[1].split(",")
    return nodes, edges, classes


def branched(versions: Path) -> Path:
    """``versions`` with two branches off the initial revision, their merge, and one more
    revision with a message full of characters Mermaid would read."""
    for name in (BRANCH_A, BRANCH_B, MERGE):
        fixture_on_head(FIXTURES / name, versions)
    (versions / "2026_12_02_0000-awkward00001_fix_quoted.py").write_text(
        f'"""{AWKWARD}"""\n\nrevision = "awkward00001"\ndown_revision = "good00000104"\n'
        "branch_labels = None\ndepends_on = None\n\n\n"
        "def upgrade() -> None:\n    pass\n\n\ndef downgrade() -> None:\n    pass\n"
    )
    return versions


def test_er_diagram_shows_every_table_column_and_foreign_key() -> None:
    metadata = linked_models()
    tables, links = parse_er(er_diagram(metadata))

    assert set(tables) == set(metadata.tables)
    for table in metadata.tables.values():
        assert list(tables[table.name]) == [c.name for c in table.columns]
        for column in table.columns:
            type_, keys = tables[table.name][column.name]
            assert type_ == column_type(column)
            assert ("PK" in keys) == column.primary_key
            assert ("FK" in keys) == bool(column.foreign_keys)
    fks = {
        (fk.referred_table.name, fk.parent.name, tuple(c.name for c in fk.columns))
        for table in metadata.tables.values()
        for fk in table.foreign_key_constraints
    }
    assert {(p, c, tuple(label.split(" -> ")[0].split(", "))) for p, _, c, label in links} == fks

    # what a reader sees, on a few columns and links
    jobs, parcels = tables["report_jobs"], tables["property_operational"]
    assert jobs["property_id"] == ("integer", {"FK"})
    assert parcels["property_id"] == ("varchar(64)", {"UK"})  # unique alone
    assert parcels["county_id"][1] == {"UK"}  # unique with parcel_number
    assert parcels["created_at"][0] == "timestamp_with_time_zone"
    assert parcels["tax_rate"][0] == "numeric(8,6)"
    assert tables["parcel-history"]["weird name"][0] == "double_precision"
    assert ("property_operational", "||--o{", "report_jobs", "property_id -> id") in links
    assert ("parcel-history", "|o--o{", "parcel-history", "parent_id -> id") in links
    assert ("report_jobs", "||--o|", "report_receipts", "report_id -> report_id") in links


def test_revision_graph_shows_every_revision_edge_merge_and_head(versions: Path) -> None:
    cfg = migrations.alembic_config(versions_dir=branched(versions))
    document = pictures.render(cfg)
    flowchart = re.search(r"```mermaid\n(flowchart.*?)```", document.text, re.DOTALL)
    assert flowchart is not None
    nodes, edges, classes = parse_flowchart(flowchart[1])

    scripts = list(script_directory(cfg).walk_revisions())  # what Alembic itself says
    assert set(nodes) == {node_id(s.revision) for s in scripts}
    assert edges == {
        (node_id(parent), node_id(s.revision)) for s in scripts for parent in s._all_down_revisions
    }
    for script in scripts:
        assert nodes[node_id(script.revision)].startswith(f"{script.revision}<br/>")
    assert "merge of bad000000008 + good00000103" in nodes[node_id("good00000104")]
    assert "(branch point)" in nodes[node_id(HEAD)]
    assert nodes[node_id("awkward00001")].endswith("<br/>(head)")
    assert classes == {
        "head": [node_id("awkward00001")],
        "merge": [node_id("good00000104")],
        "branch": [node_id(HEAD)],
    }
    assert f"{node_id('good00000104')}{{{{" in flowchart[1]  # the merge is a hexagon
    # the awkward message is there, with nothing in it that Mermaid would read
    label = nodes[node_id("awkward00001")]
    assert label.split("<br/>")[1] == (
        "fix #quot;quoted#quot; [brackets] (parens) #35;12; #lt;b#gt;bold#lt;/b#gt; #amp; "
        "#96;code#96; | pipe"
    )
    assert '| `awkward00001` | `good00000104` | fix "quoted" \\[brackets\\]' in document.text
    assert "head: `awkward00001`" in document.text


def test_the_same_models_and_revisions_give_the_same_bytes(versions: Path) -> None:
    cfg = migrations.alembic_config(versions_dir=branched(versions))
    first = pictures.render(cfg, linked_models()).text
    assert pictures.render(cfg, linked_models()).text == first

    # another process, another hash seed: still the same file
    project = pictures.render(migrations.alembic_config()).text
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-m", "terrafusion_sync", "docs", "--output", "-"],
            env=env,
            capture_output=True,
            check=True,
        )
        assert done.stdout == project.encode("utf-8")


def test_the_committed_pictures_are_current() -> None:
    document = pictures.render(migrations.alembic_config())
    assert pictures.document_path(migrations.alembic_config()) == PROJECT_DIR / "docs" / "schema.md"
    assert pictures.stale(document, pictures.DOCS_FILE) is None, "run `make docs`"
    assert document.tables == len(Base.metadata.tables)


def test_make_docs_writes_and_check_compares(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], versions: Path, tmp_path: Path
) -> None:
    env.setenv("TFSYNC_VERSIONS_DIR", str(versions))
    out = tmp_path / "pictures.md"

    assert main(["docs"]) == 2  # another versions folder has no docs/schema.md of its own
    err = capsys.readouterr().err
    assert err.startswith("tfsync: error: ")
    assert "--output" in err

    assert main(["docs", "--check", "--output", str(out)]) == 1
    assert "TF601 pictures.md is missing" in capsys.readouterr().out
    assert main(["docs", "--output", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out}")
    assert main(["docs", "--check", "--output", str(out)]) == 0

    fixture_on_head(FIXTURES / BRANCH_B, versions)
    before = out.read_bytes()
    assert main(["docs", "--check", "--output", str(out)]) == 1
    said = capsys.readouterr().out
    assert "TF601 pictures.md is out of date: the revision graph differs" in said
    assert out.read_bytes() == before  # --check writes nothing


@on_loop
async def test_a_revision_or_model_change_without_its_picture_is_a_finding(
    test_database_url: URL, versions: Path, tmp_path: Path
) -> None:
    docs = tmp_path / "docs" / "schema.md"
    cfg = migrations.alembic_config(versions_dir=versions)
    pictures.write(pictures.render(cfg), docs)
    done = await review(test_database_url, cfg=cfg, lint=False, docs=docs)
    assert done.findings == []

    # a new (good) revision, picture not refreshed: found by the full review and the hook's
    new = fixture_on_head(FIXTURES / BRANCH_B, versions)
    written = docs.read_text().splitlines()
    line = written.index(f"{len(CHAIN)} revisions, oldest at the top; head: `{HEAD}`.") + 1
    for files in (None, [new], [docs]):
        done = await review(test_database_url, cfg=cfg, lint=False, docs=docs, files=files)
        assert [(f.code, f.path, f.line) for f in done.findings] == [("TF601", str(docs), line)]
        assert "the revision graph differs" in done.findings[0].message
        assert "make docs" in done.findings[0].hint
    pictures.write(pictures.render(cfg), docs)  # make docs
    assert (await review(test_database_url, cfg=cfg, lint=False, docs=docs)).findings == []

    # a model change (with its revision), picture not refreshed
    new.unlink()
    fixture_on_head(FIXTURES / "2026_12_01_1000-good00000101_add_owner_email.py", versions)
    pictures.write(pictures.render(cfg), docs)
    changed = migrations.alembic_config(
        versions_dir=versions, target_metadata=models("owner_email")
    )
    done = await review(test_database_url, cfg=changed, lint=False, docs=docs)
    assert [f.code for f in done.findings] == ["TF601"]
    assert "the ER diagram differs" in done.findings[0].message
    pictures.write(pictures.render(changed), docs)
    assert (await review(test_database_url, cfg=changed, lint=False, docs=docs)).findings == []

    # a versions folder that is not the project's has no picture to check
    docs.unlink()
    assert (await review(test_database_url, cfg=changed, lint=False)).findings == []


def test_status_graph_marks_current_and_pending_revisions(
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fresh_database: URL,
    versions: Path,
) -> None:
    branched(versions)
    env.setenv("TFSYNC_VERSIONS_DIR", str(versions))
    env.setenv("TEST_DATABASE_URL", fresh_database.render_as_string(hide_password=False))

    assert main(["status", "--test", "--graph"]) == 0
    lines = graph_lines(capsys.readouterr().out)
    assert lines[HEAD].startswith("@")
    assert lines[HEAD].endswith("[current, branch point]")
    for rev in ("bad000000008", "good00000103", "good00000104", "awkward00001"):
        assert lines[rev].startswith("+"), lines[rev]
        assert "pending" in lines[rev]
    assert "merge of bad000000008 + good00000103" in lines["good00000104"]
    assert lines["awkward00001"].endswith("[pending, head]")
    assert list(lines) == [
        *CHAIN,
        "bad000000008",
        "good00000103",
        "good00000104",
        "awkward00001",
    ]  # oldest first

    cfg = migrations.alembic_config(versions_dir=versions)
    run_blocking(migrations.upgrade(fresh_database, "good00000104", cfg=cfg))
    assert main(["status", "--test", "--graph"]) == 0
    lines = graph_lines(capsys.readouterr().out)
    assert lines[HEAD].startswith("o")
    assert lines["good00000104"].startswith("@")
    assert "current" in lines["good00000104"]
    assert "pending" not in lines["good00000104"]
    assert lines["awkward00001"].startswith("+")


def graph_lines(out: str) -> dict[str, str]:
    """``status --graph``'s revision lines by revision id, as "<glyph> <message and marks>"
    (the lanes left out)."""
    graph = out.split("revision graph (")[1].splitlines()[1:]
    found = {}
    for line in graph:
        match = re.fullmatch(r"\s*[|/\\ ]*([@o+.])[|/\\ ]*\s(\w+)  (.*)", line)
        if match:
            found[match[2]] = f"{match[1]} {match[3]}"
    return found


def test_names_mermaid_would_misread_are_escaped() -> None:
    """Each of these broke Mermaid 11 in Chromium before it was escaped (a syntax error)."""
    metadata = MetaData()
    sa.Table(
        "class",  # a keyword of erDiagram
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("pk-id", sa.Integer),  # read as a PK mark, then garbage
        sa.Column("at", sa.DateTime(timezone=True)),  # a type with spaces
    )
    text = er_diagram(metadata)
    assert '    "class" {\n' in text
    assert '        integer _pk-id "column pk-id"\n' in text
    assert "        timestamp_with_time_zone at\n" in text
    tables, _ = parse_er(text)
    assert list(tables["class"]) == ["id", "pk-id", "at"]


def test_a_revision_brings_its_picture_so_the_review_passes_without_make_docs(
    tmp_path: Path, scratch_url: URL, test_database_url: URL
) -> None:
    """As a new user: change a model, ``tfsync revision``, ``tfsync review``: no third
    command, because writing the revision rewrote ``docs/schema.md``."""
    root = project_copy(tmp_path, type_cache=True)
    models_file = root / "terrafusion_sync" / "core_models.py"
    column = "    city: Mapped[str | None] = mapped_column(String(128))\n"
    source = models_file.read_text(encoding="utf-8")
    added = "    owner_email: Mapped[str | None] = mapped_column(String(255))\n"
    models_file.write_text(source.replace(column, column + added, 1), encoding="utf-8")

    def tfsync(*args: str) -> subprocess.CompletedProcess[str]:
        return run_process(
            [sys.executable, "-m", "terrafusion_sync", *args],
            cwd=root,
            PYTHONPATH=str(root),
            DATABASE_URL=scratch_url.render_as_string(hide_password=False),
            TEST_DATABASE_URL=test_database_url.render_as_string(hide_password=False),
        )

    assert tfsync("upgrade").returncode == 0
    done = tfsync("revision", "add owner email")
    assert done.returncode == 0, done.stderr
    assert "rewrote docs/schema.md" in done.stdout
    assert "owner_email" in (root / "docs" / "schema.md").read_text(encoding="utf-8")
    done = tfsync("review")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"0 findings in {len(CHAIN) + 1} revisions" in done.stdout

    # plain Alembic runs the same hook as `python -m terrafusion_sync.pictures.follow`
    done = run_process(
        [sys.executable, "-m", "alembic", "revision", "-m", "seed county codes"],
        cwd=root,
        PYTHONPATH=str(root),
    )
    assert done.returncode == 0, done.stderr
    assert "rewrote docs/schema.md" in done.stdout
    [seed] = (root / "terrafusion_sync" / "alembic_migrations" / "versions").glob("*_seed_*")
    revision = seed.name.split("-")[1].split("_")[0]
    assert node_id(revision) in (root / "docs" / "schema.md").read_text(encoding="utf-8")


def test_the_core_runs_the_picture_hook_in_its_own_process_and_ruff_as_its_binary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A revision written through the core follows its picture in the writing process (no
    new interpreter importing SQLAlchemy and Alembic again); ruff stays a process, its
    binary's own, with no interpreter started only to find it."""
    cfg = migrations.alembic_config(versions_dir=tmp_path)
    types = {hook["_hook_name"]: hook["type"] for hook in cfg.get_hooks_list()}
    assert types == {"ruff_fix": "exec", "ruff_format": "exec", "pictures": IN_PROCESS}

    children: list[list[str]] = []
    followed: list[Path] = []
    real_run = subprocess.run

    def run(argv: list[str], *args: Any, **kwargs: Any) -> Any:
        children.append(argv)
        return real_run(argv, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setattr(follow, "follow", followed.append)
    command.revision(cfg, "seed county codes")

    [written] = tmp_path.glob("*_seed_county_codes.py")
    assert followed == [written]
    binary = str(ruff.find_ruff_bin())  # what `python -m ruff` runs
    assert children == [
        [binary, *hook_argv(cfg.get_section_option("post_write_hooks", name) or "", str(written))]
        for name in ("ruff_fix.options", "ruff_format.options")
    ]


def test_without_ruff_installed_its_hooks_stay_module_hooks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """Alembic then says the module is missing, as it would with plain ``alembic``."""
    monkeypatch.setitem(sys.modules, "ruff", None)  # import ruff: ImportError
    ruff_binary.cache_clear()  # looked up once a process: again here, and after the test
    request.addfinalizer(ruff_binary.cache_clear)
    cfg = migrations.alembic_config(versions_dir=tmp_path)
    types = {hook["_hook_name"]: hook["type"] for hook in cfg.get_hooks_list()}
    assert types == {"ruff_fix": "module", "ruff_format": "module", "pictures": IN_PROCESS}


def test_a_crash_of_the_in_process_hook_is_a_note_and_the_revision_stays_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def crash(argv: list[str]) -> int:
        raise RuntimeError("no picture today")

    monkeypatch.setattr(follow, "main", crash)
    command.revision(migrations.alembic_config(versions_dir=tmp_path), "seed county codes")

    assert len(list(tmp_path.glob("*_seed_county_codes.py"))) == 1
    module = "terrafusion_sync.pictures.follow"
    note = f"tfsync: note: post-write hook {module} failed: RuntimeError('no picture today')\n"
    assert capsys.readouterr().err.endswith(note)


def test_a_hook_gets_its_options_with_the_revision_file_as_alembic_gives_them() -> None:
    assert hook_argv("REVISION_SCRIPT_FILENAME", "v/a b.py") == ["v/a b.py"]
    assert hook_argv("--check 'x y'", "v/a.py") == ["v/a.py", "--check", "x y"]
    assert hook_argv("--in=REVISION_SCRIPT_FILENAME -q", "v/a.py") == ["--in=v/a.py", "-q"]
