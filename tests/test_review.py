"""The review gate on deliberately bad revisions, each applied to a scratch copy of versions/.

Each fixture in ``tests/revisions/`` is one mistake; the test asserts the exact code and
line of what the review says about that file. Good revisions (with their model change)
produce no finding at all. Every review walks a scratch database of its own on the test
server, which it drops afterwards.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import MetaData
from sqlalchemy.engine import URL

from terrafusion_sync import PACKAGE_DIR, migrations
from terrafusion_sync.errors import TfsyncError
from terrafusion_sync.review import Finding, Review, format_json, format_text, review, seal_chain
from terrafusion_sync.review.codes import CODES
from terrafusion_sync.review.seal import manifest_path, read_manifest
from terrafusion_sync.settings import shown_path

from helpers import CHAIN, INITIAL, fixture_on_head, models, project_copy, run_process

on_loop = pytest.mark.asyncio(loop_scope="session")

FIXTURES = Path(__file__).parent / "revisions"
INITIAL_FILE = f"2026_11_25_1439-{INITIAL}_initial_schema.py"

# fixture file -> the findings on that file, as (code, line)
BAD = {
    "check_reports.py": [("TF103", 1)],
    "2026_12_01_1000-bad000000002_add_priority.py": [("TF104", 1)],
    "2026_12_01_1000-bad000000003_count_reports.py": [("TF105", 11)],
    "2026_12_01_1000-bad000000004_check_reports.py": [("TF102", 11)],
    "2026_12_01_1000-bad000000005_add_priority.py": [("TF301", 21)],
    "2026_12_01_1000-bad000000006_add_priority.py": [("TF301", 1)],
    "2026_12_01_1000-bad000000007_add_priority.py": [("TF302", 22)],
    "2026_12_01_1000-bad000000008_add_report_number_sequence.py": [("TF304", 20)],
    "2026_12_01_1000-bad000000009_add_priority.py": [("TF303", 17)],
    "2026_12_01_1000-bad000000010_add_priority.py": [("TF401", 18)],
    "2026_12_01_1000-bad000000011_require_message.py": [("TF402", 18)],
    "2026_12_01_1000-bad000000012_index_report_messages.py": [("TF403", 17)],
    "2026_12_01_1000-bad000000013_index_report_messages.py": [("TF303", 17), ("TF404", 17)],
    "2026_12_01_1000-bad000000014_link_reports_to_properties.py": [("TF405", 17)],
    "2026_12_01_1000-bad000000015_status_not_empty.py": [("TF406", 17)],
    "2026_12_01_1000-bad000000016_message_as_varchar.py": [("TF407", 18)],
    "2026_12_01_1000-bad000000017_rename_message_to_note.py": [("TF408", 17)],
    "2026_12_01_1000-bad000000018_rename_report_jobs.py": [("TF409", 17)],
    "2026_12_01_1000-bad000000019_drop_report_message.py": [("TF410", 18)],
    "2026_12_01_1000-bad000000020_drop_report_jobs.py": [("TF411", 18)],
    "2026_12_01_1000-bad000000021_add_report_token.py": [("TF412", 18)],
    "2026_12_01_1000-bad000000022_add_priority.py": [("TF413", 19)],
    "2026_12_01_1000-bad000000023_drop_report_message.py": [("TF002", 18), ("TF410", 18)],
    # reads rows through op.get_bind(): `alembic upgrade --sql` cannot render it
    "2026_12_01_1000-bad000000026_backfill_priority.py": [("TF414", 18)],
    # one plain UPDATE of a live table: op.backfill is the safe way
    "2026_12_01_1000-bad000000027_uppercase_report_counties.py": [("TF415", 17)],
    # one plain DELETE of a live table: op.backfill(..., delete=True) is the safe way
    "2026_12_01_1000-bad000000440_purge_old_report_jobs.py": [("TF415", 17)],
    # its downgrade drops report_age(timestamp), not the function it made: upgrading again
    # creates that one twice
    "2026_12_01_1000-bad000000041_add_report_age.py": [("TF305", 17)],
    "2026_12_01_1000-bad000000042_drop_correlation_index.py": [("TF419", 17)],
    # `revison = ...`: Alembic finds no revision in it
    "2026_12_01_1000-bad000000043_add_priority.py": [("TF106", 1)],
    # accepted with a reason: nothing on the file
    "2026_12_01_1000-bad000000024_drop_report_message.py": [],
    # a table created in the same revision is not live: index, rename, NOT NULL are fine
    "2026_12_01_1000-bad000000025_add_report_notes.py": [],
    # type changes squawk flags alike; measured, only the real rewrites remain (ALTER TABLE,
    # Notes: binary coercible types and wider varchar/numeric change the catalog only)
    "2026_12_01_1000-bad000000028_widen_correlation_id.py": [],
    "2026_12_01_1000-bad000000029_correlation_id_as_text.py": [],
    "2026_12_01_1000-bad000000030_widen_assessed_value.py": [],
    "2026_12_01_1000-bad000000031_year_built_as_bigint.py": [("TF407", 18)],
    "2026_12_01_1000-bad000000032_message_as_varchar_500.py": [("TF407", 18)],
    # ADD COLUMN ... serial: no text rule, but measured rewriting report_jobs
    "2026_12_01_1000-bad000000033_number_reports.py": [("TF416", 17)],
    # an enum type recreated without a value, or with one renamed (op.sync_enum_values)
    # (squawk flags the type's recreation too, in general terms: TF419)
    "2026_12_01_1000-bad000000045_close_hearings.py": [("TF419", 20), ("TF430", 20)],
    "2026_12_01_1000-bad000000046_rename_hearings.py": [("TF419", 20), ("TF431", 20)],
}
NULLABLE_COLUMN = "2026_12_01_1000-good00000101_add_owner_email.py"
CONCURRENT_INDEX = "2026_12_01_1000-good00000102_index_report_messages.py"
BATCHED_BACKFILL = "2026_12_01_1000-good00000103_backfill_report_status.py"
MERGE = "2026_12_01_1000-good00000104_merge_heads.py"
BACKFILL_AFTER_SCHEMA_CHANGE = "2026_12_01_1000-good00000105_add_owner_email_backfilled.py"
UNFORMATTED = "2026_12_01_1000-bad000000044_add_priority.py"  # ruff's own config skips it
REQUIRE_MESSAGE = "2026_12_01_1000-bad000000011_require_message.py"
INDEX_WITHOUT_MODEL = "2026_12_01_1000-bad000000012_index_report_messages.py"
# codes a bad revision shows on another file than itself: the lint's, or drift at the model
SHOWN_ELSEWHERE = {"TF001": UNFORMATTED, "TF202": INDEX_WITHOUT_MODEL, "TF203": REQUIRE_MESSAGE}


def add(versions: Path, fixture: str) -> Path:
    return fixture_on_head(FIXTURES / fixture, versions)


async def review_of(
    url: URL, versions: Path, metadata: MetaData | None = None, **kw: object
) -> Review:
    cfg = migrations.alembic_config(versions_dir=versions, target_metadata=metadata)
    return await review(url, cfg=cfg, lint=False, **kw)  # type: ignore[arg-type]


def on(path: Path, findings: list[Finding]) -> list[tuple[str, int]]:
    return [(f.code, f.line) for f in findings if f.path == shown_path(path)]


def test_every_fixture_is_listed() -> None:
    listed = {*BAD, NULLABLE_COLUMN, CONCURRENT_INDEX, BATCHED_BACKFILL, MERGE, UNFORMATTED}
    listed |= {BACKFILL_AFTER_SCHEMA_CHANGE}
    assert {p.name for p in FIXTURES.glob("*.py")} == listed


def test_every_code_has_a_bad_revision_or_names_the_test_that_shows_it() -> None:
    shown = {code for found in BAD.values() for code, _ in found} | set(SHOWN_ELSEWHERE)
    assert all((FIXTURES / fixture).is_file() for fixture in SHOWN_ELSEWHERE.values())
    for code in CODES.values():
        if code.shown_by is None:
            assert code.code in shown, (
                f"{code.code} has no bad revision: add one to tests/revisions/ and BAD, or name "
                "the test that shows it as shown_by in review/codes.py"
            )
        else:  # an exception only where no revision file shows the code alone
            assert code.code not in shown, f"{code.code} is shown by a bad revision: no shown_by"


@on_loop
@pytest.mark.parametrize(("fixture", "expected"), list(BAD.items()), ids=lambda v: str(v)[:44])
async def test_bad_revision_is_found_at_its_line(
    test_database_url: URL, versions: Path, fixture: str, expected: list[tuple[str, int]]
) -> None:
    path = add(versions, fixture)
    done = await review_of(test_database_url, versions)
    assert on(path, done.findings) == expected
    assert done.revisions == len(CHAIN) + 1


@on_loop
async def test_a_plain_delete_of_a_live_table_names_the_batched_delete(
    test_database_url: URL, versions: Path
) -> None:
    path = add(versions, "2026_12_01_1000-bad000000440_purge_old_report_jobs.py")
    done = await review_of(test_database_url, versions)
    [finding] = [f for f in done.findings if f.code == "TF415"]
    assert (finding.path, finding.line) == (shown_path(path), 17)
    assert finding.message.startswith("rows of report_jobs deleted by one plain statement")
    assert finding.hint.startswith('write it as op.backfill("report_jobs", delete=True, where=...)')


@on_loop
@pytest.mark.parametrize(
    ("fixture", "extra"),
    [
        (NULLABLE_COLUMN, "owner_email"),
        (CONCURRENT_INDEX, "message_index"),
        (BATCHED_BACKFILL, None),
        (BACKFILL_AFTER_SCHEMA_CHANGE, "owner_email"),
    ],
)
async def test_good_revision_with_its_model_change_has_no_finding(
    test_database_url: URL, versions: Path, fixture: str, extra: str | None
) -> None:
    add(versions, fixture)
    done = await review_of(test_database_url, versions, models(extra))
    assert done.findings == []
    assert done.revisions == len(CHAIN) + 1


@on_loop
async def test_a_model_change_without_its_revision_is_drift(
    test_database_url: URL, versions: Path
) -> None:
    done = await review_of(test_database_url, versions, models("owner_email"))
    assert [(f.code, f.path) for f in done.findings] == [
        ("TF201", "terrafusion_sync/core_models.py")
    ]
    assert "property_operational.owner_email" in done.findings[0].message


@on_loop
async def test_an_unformatted_revision_is_found_by_the_lint(
    test_database_url: URL, versions: Path
) -> None:
    path = add(versions, UNFORMATTED)
    cfg = migrations.alembic_config(versions_dir=versions)
    done = await review(test_database_url, cfg=cfg, files=[path])  # lint on, as pre-commit
    assert on(path, done.findings) == [("TF001", 1)]


@on_loop
async def test_a_column_the_models_define_otherwise_is_found_at_the_model(
    test_database_url: URL, versions: Path
) -> None:
    add(versions, REQUIRE_MESSAGE)  # makes report_jobs.message NOT NULL; the model does not
    done = await review_of(test_database_url, versions)
    models_file = PACKAGE_DIR / "core_models.py"
    source = models_file.read_text().splitlines()
    line = source.index("    message: Mapped[str | None] = mapped_column(Text)") + 1
    assert on(models_file, done.findings) == [("TF203", line)]
    [drift] = [f for f in done.findings if f.code == "TF203"]
    assert "report_jobs.message nullable is False in the migrations but True" in drift.message


@on_loop
async def test_two_heads(test_database_url: URL, versions: Path) -> None:
    add(versions, BATCHED_BACKFILL)
    add(versions, "2026_12_01_1000-bad000000008_add_report_number_sequence.py")
    done = await review_of(test_database_url, versions)
    assert [(f.code, f.line) for f in done.findings if f.path == shown_path(versions)] == [
        ("TF101", 1)
    ]
    assert "bad000000008" in done.findings[0].message


@on_loop
async def test_merged_branches_still_get_the_drift_check(
    test_database_url: URL, versions: Path
) -> None:
    add(versions, BATCHED_BACKFILL)
    add(versions, "2026_12_01_1000-bad000000008_add_report_number_sequence.py")
    add(versions, MERGE)
    done = await review_of(test_database_url, versions, models("owner_email"))
    assert [(f.code, f.path) for f in done.findings] == [
        ("TF201", "terrafusion_sync/core_models.py")
    ]


@on_loop
async def test_incremental_review_checks_only_the_changed_revisions(
    test_database_url: URL, versions: Path, tmp_path: Path
) -> None:
    blocking = add(versions, INDEX_WITHOUT_MODEL)
    done = await review_of(test_database_url, versions, files=[blocking])
    assert done.revisions == 1
    assert on(blocking, done.findings) == [("TF403", 17)]

    # only the models changed: no revision is reviewed, but drift (global) still is
    done = await review_of(test_database_url, versions, files=[PACKAGE_DIR / "core_models.py"])
    assert done.revisions == 0
    assert on(blocking, done.findings) == []
    assert [f.code for f in done.findings] == ["TF202"]


@on_loop
async def test_editing_a_sealed_revision_needs_a_reason(
    test_database_url: URL, versions: Path
) -> None:
    initial = versions / INITIAL_FILE
    assert on(initial, (await review_of(test_database_url, versions)).findings) == []
    initial.write_text(initial.read_text() + "# an innocent-looking edit\n")
    assert on(initial, (await review_of(test_database_url, versions)).findings) == [("TF501", 1)]

    cfg = migrations.alembic_config(versions_dir=versions)
    with pytest.raises(TfsyncError, match="needs a reason"):
        seal_chain(cfg, [INITIAL])
    sealed = seal_chain(cfg, [INITIAL], reason="comment only, no schema change")
    assert [s.revision for s in sealed] == [INITIAL]
    assert read_manifest(manifest_path(versions))[INITIAL].reason == (
        "comment only, no schema change"
    )
    assert (await review_of(test_database_url, versions)).findings == []


@on_loop
async def test_new_revisions_are_sealed_and_a_sealed_one_may_not_vanish(
    test_database_url: URL, versions: Path
) -> None:
    path = add(versions, BATCHED_BACKFILL)
    done = await review_of(test_database_url, versions)
    assert done.unsealed == ["good00000103"]
    assert done.findings == []

    cfg = migrations.alembic_config(versions_dir=versions)
    assert [s.revision for s in seal_chain(cfg, [])] == ["good00000103"]
    assert seal_chain(cfg, []) == []
    assert (await review_of(test_database_url, versions)).unsealed == []

    path.unlink()
    manifest = manifest_path(versions)
    done = await review_of(test_database_url, versions)
    assert [(f.code, f.path, f.line) for f in done.findings] == [("TF502", shown_path(manifest), 4)]


def test_findings_print_like_a_compiler_and_as_json() -> None:
    finding = Finding("versions/x.py", 18, "TF410", "column dropped on t: why", "the safe way")
    assert format_text([finding], 1) == (
        "versions/x.py:18: TF410 column dropped on t: why (the safe way)\n1 finding in 1 revision"
    )
    assert '"code": "TF410"' in format_json([finding], 1)


def tfsync_in(root: Path, url: URL, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m terrafusion_sync ARGS`` in the copy ``root``, on the test server ``url``."""
    return run_process(
        [sys.executable, "-m", "terrafusion_sync", *args],
        cwd=root,
        PYTHONPATH=str(root),
        TEST_DATABASE_URL=url.render_as_string(hide_password=False),
    )


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


def commit_hook(
    root: Path, url: URL, staged: Path, hook: str = "migrations-review"
) -> subprocess.CompletedProcess[str]:
    """Stage ``staged`` and run the real ``hook`` of ``.pre-commit-config.yaml`` on what is
    staged, as ``git commit`` would, with the pre-commit of the project's ``.venv`` (the
    one ``make hooks`` installs)."""
    git(root, "add", str(staged))
    return run_process(
        [str(root / ".venv" / "bin" / "pre-commit"), "run", "--verbose", hook],
        cwd=root,
        TEST_DATABASE_URL=url.render_as_string(hide_password=False),
        PRE_COMMIT_HOME=str(root.parent / "pre-commit-home"),
        # as on a laptop: the copy's new nox environments are not compiled ahead (noxfile's
        # install), their first command compiles what it imports and keeps it
        PYTHONDONTWRITEBYTECODE="",
    )


def test_pre_commit_hook_blocks_a_bad_revision_and_passes_a_good_one(
    tmp_path: Path, test_database_url: URL
) -> None:
    """In a git repository holding a copy of the project, whose ``.venv`` (the hook's nox)
    is the project's own; the review runs in the copy's nox session, as on a laptop."""
    root = project_copy(tmp_path)
    venv = PACKAGE_DIR.parent / ".venv"
    assert (venv / "bin" / "pre-commit").exists(), "the hook needs the project's .venv: make"
    (root / ".venv").symlink_to(venv)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "the project")
    versions = root / "terrafusion_sync" / "alembic_migrations" / "versions"

    bad = fixture_on_head(FIXTURES / "2026_12_01_1000-bad000000021_add_report_token.py", versions)
    done = commit_hook(root, test_database_url, bad)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "migrations review" in done.stdout
    assert "Failed" in done.stdout
    assert f"{bad.relative_to(root)}:18: TF412 " in done.stdout
    git(root, "rm", "-q", "--cached", str(bad))
    bad.unlink()

    good = fixture_on_head(FIXTURES / BATCHED_BACKFILL, versions)
    done = commit_hook(root, test_database_url, good)
    assert done.returncode == 1  # a new revision without its picture
    assert re.search(r"^docs/schema\.md:\d+: TF601 ", done.stdout, re.MULTILINE), done.stdout

    # the pictures hook rewrites the stale picture and fails once, as ruff's formatter does
    done = commit_hook(root, test_database_url, good, hook="pictures")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "files were modified by this hook" in done.stdout
    done = commit_hook(root, test_database_url, root / "docs" / "schema.md")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Passed" in done.stdout
    assert "0 findings in 1 revision" in done.stdout


def test_review_that_cannot_run_is_one_line_with_exit_2(tmp_path: Path) -> None:
    root = project_copy(tmp_path)
    bad_url = URL.create("postgresql+asyncpg", "tf", "s3cret", "127.0.0.1", 1, "county")
    done = tfsync_in(root, bad_url, "review")
    assert done.returncode == 2
    assert done.stderr.startswith("tfsync: error: cannot connect to PostgreSQL at 127.0.0.1:1")
    assert "s3cret" not in done.stderr + done.stdout
