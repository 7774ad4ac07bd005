"""Settings: precedence, URL normalisation, refusal of other databases, masking."""

from __future__ import annotations

from pathlib import Path

import pytest

from terrafusion_sync.errors import ConfigError
from terrafusion_sync.settings import load_settings, mask_text, mask_url, normalize_url


@pytest.mark.parametrize(
    "raw",
    [
        "postgres://u:p@db.example:5433/county",
        "postgresql://u:p@db.example:5433/county",
        "postgresql+psycopg://u:p@db.example:5433/county",
        "postgresql+asyncpg://u:p@db.example:5433/county",
    ],
)
def test_postgres_urls_are_normalised_to_asyncpg(raw: str) -> None:
    url = normalize_url(raw)
    assert url.drivername == "postgresql+asyncpg"
    assert (url.host, url.port, url.database, url.username) == ("db.example", 5433, "county", "u")


def test_sslmode_is_translated_for_asyncpg() -> None:
    url = normalize_url("postgresql://u@h/db?sslmode=require&connect_timeout=5")
    assert dict(url.query) == {"ssl": "require", "timeout": "5"}


POSTGRESQL_ONLY = (
    "TerraFusion Sync runs on PostgreSQL only: use postgresql://user:password@host/dbname"
)


@pytest.mark.parametrize(
    ("raw", "said", "hint"),
    [
        ("sqlite:///x.db", "DATABASE_URL uses 'sqlite', not PostgreSQL", POSTGRESQL_ONLY),
        (
            "mysql://root:pw@localhost/county",
            "DATABASE_URL uses 'mysql', not PostgreSQL",
            POSTGRESQL_ONLY,
        ),
        (
            "postgresql://u:pw@host:port/db",
            "DATABASE_URL is not a valid URL: 'postgresql://u:***@host:port/db'",
            "use postgresql://user:password@host:5432/dbname",
        ),
        (
            "postgresql://u:pw@host:5432",
            "DATABASE_URL names no database: postgresql://u:***@host:5432",
            "add the database name after the host, e.g. .../terrafusion_sync",
        ),
    ],
)
def test_bad_urls_are_refused_with_a_reason_and_what_to_do(raw: str, said: str, hint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        normalize_url(raw)
    assert (caught.value.message, caught.value.hint) == (said, hint)  # the password masked


def test_text_that_is_no_url_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        normalize_url("not a url at all")
    assert caught.value.message.startswith("DATABASE_URL is not a valid URL")


def test_passwords_are_masked() -> None:
    url = normalize_url("postgresql://alice:s3cret-pw@db:5432/county")
    assert "s3cret-pw" not in mask_url(url)
    assert mask_url(url) == "postgresql+asyncpg://alice:***@db:5432/county"
    text = "failed for postgres://bob:hunter2@h/db and mysql://c:d@e/f"
    assert mask_text(text) == "failed for postgres://bob:***@h/db and mysql://c:***@e/f"


def test_environment_wins_over_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("DATABASE_URL=postgresql://file@h/from_file\nTFSYNC_DEBUG=1\n")
    settings = load_settings(
        {"TFSYNC_ENV_FILE": str(env_file), "DATABASE_URL": "postgresql://env@h/from_env"}
    )
    assert settings.database_url is not None
    assert settings.database_url.database == "from_env"
    assert settings.debug is True


def test_env_file_is_used_when_environment_is_silent(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nexport DATABASE_URL='postgresql://file@h/from_file'\n")
    settings = load_settings({"TFSYNC_ENV_FILE": str(env_file)})
    assert settings.database_url is not None
    assert settings.database_url.database == "from_file"
    assert not settings.embedded


def test_no_url_means_embedded(tmp_path: Path) -> None:
    settings = load_settings({"TFSYNC_ENV_FILE": str(tmp_path / "missing.env")})
    assert settings.embedded
    assert settings.test_database_url is None


def test_test_url_defaults_to_a_sibling_database(tmp_path: Path) -> None:
    settings = load_settings(
        {"TFSYNC_ENV_FILE": str(tmp_path / "none"), "DATABASE_URL": "postgresql://u:p@h/county"}
    )
    assert settings.test_database_url is not None
    assert settings.test_database_url.database == "county_test"


def test_same_test_and_application_database_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="same database") as caught:
        load_settings(
            {
                "TFSYNC_ENV_FILE": str(tmp_path / "none"),
                "DATABASE_URL": "postgresql://u:pw1@127.0.0.1/county",
                "TEST_DATABASE_URL": "postgres://u:pw1@localhost:5432/county",
            }
        )
    assert caught.value.message == (
        "TEST_DATABASE_URL and DATABASE_URL are the same database "
        "(postgresql+asyncpg://u:***@localhost:5432/county)"
    )


def test_unparsable_env_line_names_the_line_and_masks_it(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("GOOD=1\nDATABASE_URL 'postgres://u:topsecret@h/db\n")
    with pytest.raises(ConfigError) as caught:
        load_settings({"TFSYNC_ENV_FILE": str(env_file)})
    assert caught.value.message == (
        '.env line 2: cannot parse "DATABASE_URL \'postgres://u:***@h/db"'
    )
