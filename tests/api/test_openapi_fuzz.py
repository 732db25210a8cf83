"""Property-based fuzzing of every operation in the OpenAPI schema (schemathesis): whatever the input,
the service answers with a non-5xx status, and errors come in the one error shape. Bounded
(``MAX_EXAMPLES`` per operation) and deterministic (``derandomize``)."""
from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis (dev extra) is not installed")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from api import db  # noqa: E402
from api.main import create_app  # noqa: E402
from api.services.auth import create_key  # noqa: E402
from tests.api.conftest import FakeStore, make_settings  # noqa: E402

MAX_EXAMPLES = 20


def _operations() -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(make_settings(Path(tmp)), loader=FakeStore())
        spec = app.openapi()
        app.state.engine.dispose()
    return [(m.upper(), p) for p, item in spec["paths"].items() for m in item]


OPERATIONS = _operations()


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    # small limits so that the size checks are reachable by generated data
    app = create_app(make_settings(tmp, max_body_bytes=64 * 1024, max_upload_bytes=256 * 1024, job_poll_seconds=0.2),
                     loader=FakeStore())
    db.upgrade(str(app.state.settings.database_url))
    with app.state.sessionmaker() as s:
        _, token = create_key(s, role="admin", name="fuzz")
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    yield schema, token
    from schemathesis.python.asgi import shutdown_lifespans

    shutdown_lifespans()  # stop the app (and its job worker) that schemathesis started


def test_every_route_is_fuzzed():
    assert len(OPERATIONS) >= 20
    assert ("POST", "/v1/classify") in OPERATIONS and ("POST", "/v1/jobs") in OPERATIONS


@pytest.mark.parametrize("method,path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_server_errors(fuzz_env, method, path):
    schema, token = fuzz_env
    operation = schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        response = case.call(headers={"Authorization": f"Bearer {token}"})
        case.validate_response(response, checks=[not_a_server_error])
        ctype = response.headers.get("content-type") or ""
        ctype = ctype[0] if isinstance(ctype, list) else ctype
        if response.status_code >= 400 and ctype.startswith("application/json"):
            body = response.json()
            assert set(body) == {"error"}, body
            assert {"code", "message", "details"} <= set(body["error"]), body

    run()
