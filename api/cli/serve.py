"""``cxlens serve``: the HTTP API (uvicorn) on a migrated database."""
from __future__ import annotations

import argparse
import os
import sys

from nlp.errors import DataError

from .keys import settings_from_env


def register(sub) -> None:
    p = sub.add_parser("serve", help="run the HTTP API (uvicorn)",
                       description="Run the HTTP API. Settings come from CXLENS_* environment variables or "
                                   "a .env file (see docs/api.md); the database is migrated first.")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    p.add_argument("--job-workers", type=int, default=None,
                   help="job worker threads per process (default: one per CPU core)")
    p.add_argument("--allow-anonymous", action="store_true",
                   help="accept requests without an API key (local use only)")
    p.add_argument("--model", default=None, help="default model spec (name or name@version)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api import db
    from api.services.models import ModelService

    if args.workers < 1:
        raise DataError(field="--workers", expected="an integer >= 1", found=args.workers)
    if args.job_workers is not None:
        if args.job_workers < 0:
            raise DataError(field="--job-workers", expected="an integer >= 0", found=args.job_workers)
        os.environ["CXLENS_JOB_WORKERS"] = str(args.job_workers)
    if args.allow_anonymous:
        os.environ["CXLENS_ALLOW_ANONYMOUS"] = "true"
    if args.model:
        os.environ["CXLENS_DEFAULT_MODEL"] = args.model
    settings = settings_from_env()
    db.upgrade(str(settings.database_url))
    os.environ["CXLENS_AUTO_MIGRATE"] = "false"  # done once here, not by every worker process
    if args.workers > 1 and settings.load_model_on_startup:
        # train/load the default model once before the worker processes start
        ModelService(default_spec=settings.default_model, models_dir=settings.models_dir).load_default()
    print(f"cxlens API on http://{args.host}:{args.port} (docs: /docs; database: "
          f"{_safe_url(str(settings.database_url))})", file=sys.stderr)
    uvicorn.run("api.main:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                log_level=args.log_level)
    return 0


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
