"""Migrations match the ORM, and the schema works through Alembic alone."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from api import db
from api.models_db import Base
from api.web import db as _web_tables  # noqa: F401 - the web app's tables are on the same metadata


def test_upgrade_head_creates_the_tables_and_matches_the_orm(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    db.upgrade(url)
    db.upgrade(url)  # idempotent
    engine = db.make_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) == {"alembic_version", "api_keys", "jobs", "job_results",
                                                           "reports", "training_jobs", "web_sessions", "web_waves",
                                                           "web_shortlist_marks"}
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        # unique constraints/indexes reflected from SQLite may differ only by name; columns and tables must not
        assert [d for d in diff if d[0] in ("add_table", "remove_table", "add_column", "remove_column")] == []
    finally:
        engine.dispose()


def test_a_bad_database_url_is_one_clear_error(tmp_path):
    import pytest

    with pytest.raises(db.DatabaseError) as e:
        db.upgrade("postgresql+psycopg://user:secret@127.0.0.1:1/none")
    assert "secret" not in str(e.value)
