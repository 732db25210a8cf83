"""The tail shared by the routes that queue work (jobs, reports): create the row in the threadpool,
drop the spooled upload if that fails, wake the worker, answer 202 with a ``Location``."""
from __future__ import annotations

from typing import Any, Callable

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ..services.spool import Spooled


async def queue_and_accept(request: Request, spooled: Spooled, create: Callable[[], dict[str, Any]],
                           schema: type[BaseModel], location: str) -> JSONResponse:
    try:
        out = await run_in_threadpool(create)
    except BaseException:
        spooled.discard()
        raise
    worker = request.app.state.worker
    if worker is not None:
        worker.wake()
    body = schema.model_validate(out).model_dump(mode="json")
    return JSONResponse(body, status_code=202, headers={"Location": f"{location}/{out['id']}"})
