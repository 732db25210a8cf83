"""The API tests whose outcome depends on the database, run again on PostgreSQL (tests/api/pg.py).

The test functions are those of their own modules (imported, so pytest collects them here too); an autouse
fixture points every ``make_settings`` of those modules, and with it the ``settings``/``app``/``client``
fixtures, at a fresh PostgreSQL database per test. Jobs (lifecycle, uploads, limits, cancel), restarts
(graceful hand-back, crash takeover after the lease, giving up), keys and ownership, keyset pagination on
timestamps, and reports all go through SQL that SQLite and PostgreSQL could disagree on."""
from __future__ import annotations

import importlib

import pytest

from tests.api import conftest

#: module -> the tests to run again (None: all of them)
RERUN: dict[str, tuple[str, ...] | None] = {
    "tests.api.test_jobs": None,
    "tests.api.test_restart": None,
    "tests.api.test_keys": ("test_create_list_revoke_keys_over_http", "test_key_create_validation"),
    "tests.api.test_auth": ("test_admin_can_do_admin_things", "test_revoked_key_is_401",
                            "test_jobs_are_visible_only_to_their_owner_or_an_admin", "test_keys_are_stored_hashed"),
    "tests.api.test_hardening": ("test_the_last_admin_key_cannot_be_revoked",
                                 "test_cursor_pagination_walks_every_job_once",
                                 "test_reports_and_datasets_lists_page_too"),
    "tests.api.test_health": ("test_ready_reports_model_db_and_worker",),
    "tests.api.test_reports": ("test_report_job_json_html_xlsx", "test_report_errors"),
}

_MODULES = {name: importlib.import_module(name) for name in RERUN}
_ORIGINAL_MAKE_SETTINGS = conftest.make_settings

for _name, _tests in RERUN.items():
    _mod = _MODULES[_name]
    for _test in _tests or [n for n in vars(_mod) if n.startswith("test_") and callable(getattr(_mod, n))]:
        _fn = getattr(_mod, _test, None)
        if _fn is None:  # renamed or removed in its module: say so instead of silently losing it
            def _fn(_missing=f"{_name}.{_test}"):
                pytest.fail(f"{_missing} no longer exists: update RERUN in {__name__}")
        globals()[f"{_test}" if _test not in globals() else f"{_test}__{_name.rsplit('.', 1)[1]}"] = _fn


@pytest.fixture(autouse=True)
def _on_postgresql(pg_url, monkeypatch):
    """Every app these tests build uses this test's PostgreSQL database (unless a test names another)."""
    def make_settings(tmp_path, **overrides):
        overrides.setdefault("database_url", pg_url)
        return _ORIGINAL_MAKE_SETTINGS(tmp_path, **overrides)

    for mod in (conftest, *_MODULES.values()):
        if getattr(mod, "make_settings", None) is _ORIGINAL_MAKE_SETTINGS:
            monkeypatch.setattr(mod, "make_settings", make_settings)
    yield
    from sqlalchemy import create_engine, inspect

    engine = create_engine(pg_url)
    try:  # the test's app really ran on PostgreSQL (it migrated this database)
        assert inspect(engine).has_table("alembic_version"), "the test did not use the PostgreSQL database"
    finally:
        engine.dispose()
