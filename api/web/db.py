"""Tables of the web app (revision 0003): browser sessions, waves (an upload + its classify job and
report), and the interview shortlist marks. Same declarative base as ``api.models_db`` (one metadata)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..models_db import Base, new_id, utcnow


class WebSession(Base):
    __tablename__ = "web_sessions"

    #: SHA-256 of the cookie's random token (the token itself is never stored)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), ForeignKey("api_keys.id"), index=True)
    #: the CSRF token of this session (sent back in every form and htmx request)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Wave(Base):
    __tablename__ = "web_waves"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_key_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("api_keys.id"), nullable=True, index=True)
    #: uploaded | running | done | failed
    status: Mapped[str] = mapped_column(String(16), default="uploaded")
    input_name: Mapped[str] = mapped_column(String(300), default="")
    #: the wave file in the spool (kept: the filtered report is rebuilt from it)
    input_path: Mapped[str] = mapped_column(Text)
    #: report options (JSON text): the column mapping chosen on the preview, lang
    options: Mapped[str] = mapped_column(Text, default="{}")
    model_spec: Mapped[str] = mapped_column(String(200), default="")
    job_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("jobs.id"), nullable=True)
    report_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("reports.id"), nullable=True)
    #: rows of the wave that could not be read (JSON list of {row, field, message})
    row_errors: Mapped[str] = mapped_column(Text, default="[]")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ShortlistMark(Base):
    __tablename__ = "web_shortlist_marks"
    __table_args__ = (UniqueConstraint("wave_id", "company", "contact", name="uq_web_shortlist_marks_contact"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    wave_id: Mapped[str] = mapped_column(String(32), ForeignKey("web_waves.id", ondelete="CASCADE"), index=True)
    company: Mapped[str] = mapped_column(String(300))
    contact: Mapped[str] = mapped_column(String(300), default="")
    contacted: Mapped[bool] = mapped_column(Boolean, default=False)
    interviewed: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str] = mapped_column(Text, default="")
    updated_by: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
