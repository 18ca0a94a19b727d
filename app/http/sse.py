"""Server-Sent Events over a job's event log: replay from the start, then follow until it ends.

Plain ``text/event-stream`` via Starlette's StreamingResponse (no extra dependency). The stream
reads the job's append-only log by index, so a client that disconnects loses nothing: the job
keeps running in its worker, and reconnecting replays every event (``Last-Event-ID`` resumes
after the last one seen). A comment line every few seconds keeps proxies from closing an idle
stream while a model thinks.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi.responses import StreamingResponse

from app.http.jobs import Job

SSE_MEDIA = "text/event-stream"
POLL_S = 0.02
KEEPALIVE_S = 10.0
SSE_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {SSE_MEDIA: {"schema": {"type": "string"}}},
                                                       "description": "Server-Sent Events: status, span, delta, result | error, end."}}


def frame(event: str, data: Any, event_id: int | None = None) -> str:
    """One SSE frame (``data`` as compact JSON)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n"


async def follow(job: Job, start: int = 0, render: Callable[[str, dict[str, Any], int], str | None] | None = None) -> AsyncIterator[str]:
    """Frames of ``job``'s events from index ``start`` until it finishes (then an ``end`` frame)."""
    index, last_sent = start, time.monotonic()
    while True:
        events = job.events[index:]
        for offset, (event, data) in enumerate(events):
            text = render(event, data, index + offset) if render else frame(event, data, index + offset)
            if text:
                yield text
        index += len(events)
        if events:
            last_sent = time.monotonic()
        if job.finished and index >= len(job.events):
            break
        if time.monotonic() - last_sent > KEEPALIVE_S:
            last_sent = time.monotonic()
            yield ": keep-alive\n\n"
        await asyncio.sleep(POLL_S)
    if render is None:
        yield frame("end", {"status": job.status}, index)


def stream(frames: AsyncIterator[str]) -> StreamingResponse:
    """An SSE response that proxies do not buffer."""
    return StreamingResponse(frames, media_type=SSE_MEDIA, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
