"""The SQLAlchemy models: one shared :class:`Base`, whose metadata Alembic compares against.

A model that is not imported here is invisible to ``revision`` and to the drift check.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Stable constraint names, so a downgrade can drop exactly what an upgrade created."""

Money = Numeric(14, 2)


class Base(AsyncAttrs, DeclarativeBase):
    """Declarative base for every TerraFusion Sync model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    """``created_at`` / ``updated_at``, timezone-aware and filled in by the server."""

    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


class PropertyOperational(TimestampMixin, Base):
    """One parcel as the county assesses it, with its sync state."""

    __tablename__ = "property_operational"
    __table_args__ = (
        UniqueConstraint("county_id", "parcel_number"),
        Index("ix_property_operational_county_id_sync_status", "county_id", "sync_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    property_id: Mapped[str] = mapped_column(String(64), unique=True)
    parcel_number: Mapped[str] = mapped_column(String(64))
    county_id: Mapped[str] = mapped_column(String(32))

    property_type: Mapped[str | None] = mapped_column(String(64))
    property_class: Mapped[str | None] = mapped_column(String(64))

    address_line1: Mapped[str | None] = mapped_column(String(255))
    address_line2: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(128))
    state: Mapped[str | None] = mapped_column(String(2))
    postal_code: Mapped[str | None] = mapped_column(String(10))
    latitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    longitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))

    land_area_sqft: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    building_area_sqft: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    year_built: Mapped[int | None] = mapped_column(Integer)
    bedrooms: Mapped[int | None] = mapped_column(Integer)
    bathrooms: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))

    assessed_value: Mapped[Decimal | None] = mapped_column(Money)
    market_value: Mapped[Decimal | None] = mapped_column(Money)
    land_value: Mapped[Decimal | None] = mapped_column(Money)
    improvement_value: Mapped[Decimal | None] = mapped_column(Money)
    assessment_year: Mapped[int | None] = mapped_column(Integer, index=True)

    tax_district: Mapped[str | None] = mapped_column(String(64))
    tax_rate: Mapped[Decimal | None] = mapped_column(Numeric(8, 6))
    annual_tax: Mapped[Decimal | None] = mapped_column(Money)
    is_exempt: Mapped[bool] = mapped_column(Boolean, server_default="false")
    is_historic: Mapped[bool] = mapped_column(Boolean, server_default="false")

    sync_status: Mapped[str] = mapped_column(String(32), server_default="pending")
    sync_timestamp: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    valuation_history: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)


class ReportJob(Base):
    """A report requested by a user and produced in the background."""

    __tablename__ = "report_jobs"
    __table_args__ = (Index("ix_report_jobs_county_id_status", "county_id", "status"),)

    report_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    report_type: Mapped[str] = mapped_column(String(64))
    county_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), server_default="PENDING")
    parameters_json: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    result_location: Mapped[str | None] = mapped_column(String(1024))
    message: Mapped[str | None] = mapped_column(Text)
    correlation_id: Mapped[str | None] = mapped_column(String(64), index=True)

    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
