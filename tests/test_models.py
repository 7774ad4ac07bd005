"""Create, read, update and delete on both models, against the migrated test database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from terrafusion_sync.core_models import PropertyOperational, ReportJob

pytestmark = pytest.mark.asyncio(loop_scope="session")


def parcel(number: str = "12-345-678", **fields: object) -> PropertyOperational:
    defaults: dict[str, object] = {
        "assessed_value": Decimal("250000.00"),
        "attributes": {"zoning": "R1", "acres": 0.25},
        "valuation_history": [{"year": 2025, "value": 240000}],
    }
    return PropertyOperational(
        property_id=f"prop-{number}",
        parcel_number=number,
        county_id="benton",
        **(defaults | fields),
    )


async def test_property_round_trip_with_server_defaults(db_session: AsyncSession) -> None:
    db_session.add(parcel(city="Kennewick"))
    await db_session.commit()

    row = await db_session.scalar(
        select(PropertyOperational).where(PropertyOperational.parcel_number == "12-345-678")
    )
    assert row is not None
    await db_session.refresh(row)
    assert row.city == "Kennewick"
    assert row.assessed_value == Decimal("250000.00")
    assert row.sync_status == "pending"
    assert row.is_exempt is False
    assert row.created_at.tzinfo is not None
    assert row.valuation_history == [{"year": 2025, "value": 240000}]


async def test_jsonb_attributes_can_be_queried(db_session: AsyncSession) -> None:
    db_session.add_all([parcel("1"), parcel("2", attributes={"zoning": "C2"})])
    await db_session.flush()

    found = await db_session.scalars(
        select(PropertyOperational.parcel_number).where(
            PropertyOperational.attributes["zoning"].astext == "C2"
        )
    )
    assert list(found) == ["2"]


async def test_update_and_delete(db_session: AsyncSession) -> None:
    row = parcel()
    db_session.add(row)
    await db_session.flush()

    row.sync_status = "synced"
    row.sync_timestamp = datetime.now(UTC)
    await db_session.flush()
    assert await db_session.scalar(select(PropertyOperational.sync_status)) == "synced"

    await db_session.delete(row)
    await db_session.flush()
    assert await db_session.scalar(select(PropertyOperational)) is None


async def test_parcel_number_is_unique_per_county(db_session: AsyncSession) -> None:
    db_session.add(parcel("9"))
    await db_session.flush()
    duplicate = PropertyOperational(property_id="other", parcel_number="9", county_id="benton")
    db_session.add(duplicate)
    with pytest.raises(IntegrityError, match="uq_property_operational_county_id_parcel_number"):
        await db_session.flush()


async def test_report_job_lifecycle(db_session: AsyncSession) -> None:
    report_id = str(uuid.uuid4())
    db_session.add(
        ReportJob(
            report_id=report_id,
            report_type="sales_ratio",
            county_id="benton",
            parameters_json={"year": 2026, "classes": ["R", "C"]},
        )
    )
    await db_session.commit()

    job = await db_session.get(ReportJob, report_id)
    assert job is not None
    await db_session.refresh(job)
    assert job.status == "PENDING"
    assert job.parameters_json == {"year": 2026, "classes": ["R", "C"]}

    job.status, job.completed_at = "COMPLETE", datetime.now(UTC)
    await db_session.commit()
    assert await db_session.scalar(select(ReportJob.status)) == "COMPLETE"

    await db_session.delete(job)
    await db_session.commit()
    assert await db_session.get(ReportJob, report_id) is None
