"""One service process for the multi-process tests: the app that ``cxlens serve`` runs (migrations on
start-up, the job worker, graceful stop on SIGTERM), configured by ``CXLENS_*`` environment variables, with
the keyword-rule fake model of ``tests/api/conftest.py`` (slowed down by ``CXLENS_TEST_PREDICT_DELAY``
seconds per chunk, so that a test can kill a process in the middle of a job).

    python -m tests.api.pg_worker PORT
"""
from __future__ import annotations

import logging
import os
import sys
import time


def main(argv: list[str]) -> int:
    import uvicorn

    from api.main import create_app
    from api.settings import Settings
    from tests.api.conftest import FakeStore

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"[worker {os.getpid()}] %(levelname)s %(name)s: %(message)s")
    delay = float(os.environ.get("CXLENS_TEST_PREDICT_DELAY", "0"))
    store = FakeStore()
    for pipe in set(store.models.values()):
        pipe.before_predict = (lambda docs: time.sleep(delay)) if delay > 0 else None
    app = create_app(Settings(_env_file=None), loader=store)
    print(f"[worker {os.getpid()}] listening on 127.0.0.1:{argv[0]}", file=sys.stderr, flush=True)
    uvicorn.run(app, host="127.0.0.1", port=int(argv[0]), log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
