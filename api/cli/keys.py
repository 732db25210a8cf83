"""``cxlens keys create|list|revoke``: API keys in the service's database."""
from __future__ import annotations

import argparse
import sys

from nlp.errors import DataError


def register(sub) -> None:
    k = sub.add_parser("keys", help="manage API keys", description="Create, list and revoke API keys.")
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


def settings_from_env():
    from api.settings import Settings

    return Settings()


def _session(settings):
    from api import db

    db.upgrade(str(settings.database_url))
    engine = db.make_engine(str(settings.database_url))
    return engine, db.make_sessionmaker(engine)()


def cmd_keys_create(args: argparse.Namespace) -> int:
    from api.services.auth import create_key

    settings = settings_from_env()
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
    from api.services.auth import list_keys

    settings = settings_from_env()
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
    from api.services.auth import revoke_key

    settings = settings_from_env()
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
