"""Service sub-commands of ``cxlens``: ``serve`` and ``keys create|list|revoke``."""
from __future__ import annotations

import argparse
import os
import sys

from nlp.errors import DataError


def register(subparsers) -> None:
    p = subparsers.add_parser("serve", help="run the HTTP API (uvicorn)",
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

    k = subparsers.add_parser("keys", help="manage API keys", description="Create, list and revoke API keys.")
    ksub = k.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    c = ksub.add_parser("create", help="create a key (the token is printed once)")
    c.add_argument("--role", choices=["analyst", "admin"], default="analyst")
    c.add_argument("--name", default="", help="who or what the key is for")
    c.set_defaults(func=cmd_keys_create)
    ls = ksub.add_parser("list", help="list keys (never the tokens)")
    ls.add_argument("--active", action="store_true", help="hide revoked keys")
    ls.set_defaults(func=cmd_keys_list)
    r = ksub.add_parser("revoke", help="revoke a key by id")
    r.add_argument("key_id")
    r.set_defaults(func=cmd_keys_revoke)


def _settings():
    from .settings import Settings

    return Settings()


def _session(settings):
    from . import db

    db.upgrade(str(settings.database_url))
    engine = db.make_engine(str(settings.database_url))
    return engine, db.make_sessionmaker(engine)()


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from . import db
    from .services.models import ModelService

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
    settings = _settings()
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


def cmd_keys_create(args: argparse.Namespace) -> int:
    from .services.auth import create_key

    settings = _settings()
    engine, session = _session(settings)
    try:
        key, token = create_key(session, role=args.role, name=args.name, pepper=settings.key_pepper)
        print(f"created {key.role} key {key.id} ({key.name or 'no name'}); the token is shown only once:",
              file=sys.stderr)
        print(token)
    finally:
        session.close()
        engine.dispose()
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    from .services.auth import list_keys

    settings = _settings()
    engine, session = _session(settings)
    try:
        keys = list_keys(session, include_revoked=not args.active)
        print("id\trole\tprefix\tcreated\trevoked\tname")
        for k in keys:
            revoked = f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "-"
            print(f"{k.id}\t{k.role}\t{k.prefix}...\t{k.created_at:%Y-%m-%d %H:%M}\t{revoked}\t{k.name}")
    finally:
        session.close()
        engine.dispose()
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from .services.auth import revoke_key

    settings = _settings()
    engine, session = _session(settings)
    try:
        key = revoke_key(session, args.key_id)
        if key is None:
            raise DataError("no such key", field="key_id", expected="an id from `cxlens keys list`", found=args.key_id)
        print(f"revoked key {key.id}", file=sys.stderr)
    finally:
        session.close()
        engine.dispose()
    return 0
