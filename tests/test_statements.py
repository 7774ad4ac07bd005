"""What a statement does to which table, as PostgreSQL's own parser (pglast) reads it."""

from __future__ import annotations

from terrafusion_sync.migrations.sql import statements as st


def test_alter_table_subcommands_are_each_an_action() -> None:
    found = st.actions(
        "ALTER TABLE public.report_jobs ALTER COLUMN message TYPE varchar(500),"
        " ADD COLUMN x int NOT NULL, ADD COLUMN y int NOT NULL DEFAULT 0,"
        " ALTER COLUMN m SET NOT NULL,"
        " ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES property_operational (id) NOT VALID,"
        " VALIDATE CONSTRAINT ck, DROP COLUMN z, ADD CONSTRAINT u UNIQUE (a, b)"
    )
    assert [(a.kind, a.table) for a in found][:2] == [
        (st.ALTER_TYPE, "public.report_jobs"),
        (st.ADD_COLUMN, "public.report_jobs"),
    ]
    x, y = found[1], found[2]
    assert (x.not_null, x.has_default) == (True, False)
    assert (y.not_null, y.has_default) == (True, True)
    fk = found[4]
    assert (fk.constraint_type, fk.not_valid, fk.references, fk.columns) == (
        st.FOREIGN_KEY,
        True,
        "property_operational",
        ("a",),
    )
    assert [a.kind for a in found[5:]] == [
        st.VALIDATE_CONSTRAINT,
        st.DROP_COLUMN,
        st.ADD_CONSTRAINT,
    ]
    assert (found[7].unique, found[7].columns) == (True, ("a", "b"))


def test_indexes_row_writes_and_names() -> None:
    index = st.actions('CREATE UNIQUE INDEX CONCURRENTLY ix ON "Reports" (a) WHERE b IS NULL')[0]
    assert (index.kind, index.table, index.unique, index.concurrently) == (
        st.CREATE_INDEX,
        '"Reports"',
        True,
        True,
    )
    assert index.expression == "b IS NULL"
    writes = st.row_writes("UPDATE t SET a = 1; DELETE FROM u; INSERT INTO v VALUES (1)")
    assert [(a.kind, a.table) for a in writes] == [(st.UPDATE, "t"), (st.DELETE, "u")]
    assert st.tables("UPDATE t SET a = (SELECT max(b) FROM s.u JOIN w ON true)") == [
        "t",
        "s.u",
        "w",
    ]


def test_text_that_does_not_parse_says_nothing() -> None:
    assert st.actions("SELECT 'DROP TABLE t'") == []
    assert st.actions("this is not SQL ((") == []


def test_row_writes_inside_a_statement_count_and_those_in_strings_do_not() -> None:
    sql = (
        "WITH gone AS (DELETE FROM report_jobs WHERE status = 'DONE' RETURNING report_id)"
        " SELECT count(*) FROM gone; SELECT 'UPDATE t SET a = 1'; -- UPDATE u SET b = 2\n"
        "DO $$ BEGIN UPDATE v SET c = 3; END $$"
    )
    assert [(a.kind, a.table) for a in st.row_writes(sql)] == [(st.DELETE, "report_jobs")]


def test_only_data_statements_that_parse_name_columns() -> None:
    names = st.data_statement_names
    table = frozenset({"property_operational"})
    assert names("UPDATE property_operational SET parcel_number = $1 WHERE id = $2") == [
        (table, frozenset({"parcel_number", "id"}))
    ]
    assert names("INSERT INTO property_operational (parcel_number) VALUES ($1)") == [
        (table, frozenset({"parcel_number"}))
    ]
    assert names("SELECT o.parcel_number FROM property_operational o") == [
        (table, frozenset({"parcel_number"}))
    ]
    assert names("ALTER TABLE property_operational DROP COLUMN parcel_number") == []
    assert names("<insufficient privilege>") == []
