"""Mastodon's user stream (server-sent events) through Mastodon.py, handed to the event loop.

:class:`NotificationStream` opens ``GET /api/v1/streaming/user`` with
:meth:`mastodon.Mastodon.stream_user` in blocking mode, in a daemon thread of
its own, and passes what arrives to the event loop. Blocking mode in our own
thread rather than ``run_async=True``: Mastodon.py's asynchronous handle
retries a refused connection forever without telling its caller, and the
channel must know at once that the stream is unavailable so that it polls
instead.

- :meth:`NotificationStream.open` returns once the server accepted the
  connection (HTTP 200), or raises :class:`StreamEnded` with the reason (a
  404 when the server has streaming off, a 5xx, a network error).
- :meth:`NotificationStream.next` returns the notifications that arrived
  (every type: the caller picks mentions), ``[]`` when ``timeout`` passed
  without any, and raises :class:`StreamEnded` when the connection ended: the
  server closed it, the network dropped, or nothing at all (not even the
  server's heartbeat, which Mastodon sends every 15 s or so) came for
  ``read_timeout`` seconds: that is the socket's read timeout, and the event
  loop's side checks it too (the heartbeats come through the queue), so a
  silent, half-dead connection is noticed either way.
- :meth:`NotificationStream.close` ends it; idempotent. The thread may live
  on until its blocked read returns (the next heartbeat, or the read
  timeout); whatever it reads then is dropped.

The stream client must not be the channel's request client: a stream holds
its HTTP connection for as long as it lives, and the channel's client runs
one call at a time.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import Any

from mastodon import Mastodon, StreamListener
from mastodon.errors import MastodonError

__all__ = ["NotificationStream", "StreamEnded"]


class StreamEnded(Exception):
    """The stream could not be opened, or it ended; ``str()`` says why."""


_CONNECTED = "connected"
_BEAT = "heartbeat"


class _Listener(StreamListener):
    """Runs in the stream's thread; forwards to the loop's queue until closed."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[object]) -> None:
        super().__init__()
        self._loop = loop
        self._queue = queue
        self.closed = False
        self.response: Any = None

    def put(self, item: object) -> None:
        if not self.closed:
            try:
                self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
            except RuntimeError:  # the loop is gone (shutting down): nobody is listening
                self.closed = True

    def handle_stream(self, response: Any) -> None:
        self.response = response
        if self.closed:  # closed while connecting
            response.close()
            return
        self.put(_CONNECTED)
        super().handle_stream(response)  # type: ignore[no-untyped-call]  # Mastodon.py leaves it untyped

    def handle_heartbeat(self) -> None:
        self.put(_BEAT)

    def on_notification(self, notification: Any) -> None:
        self.put(notification)

    def on_unknown_event(self, name: str, unknown_event: Any = None) -> None:
        """Events of newer servers are none of ours (Mastodon.py's default would end the stream)."""


class NotificationStream:
    """One connection to the bot account's user stream (see the module docstring)."""

    def __init__(self, client: Mastodon, *, read_timeout: float) -> None:
        self._client = client
        self._read_timeout = read_timeout
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._listener = _Listener(asyncio.get_running_loop(), self._queue)
        self._thread: threading.Thread | None = None
        self._heard = 0.0  # loop time of the last thing the stream said (an event or a heartbeat)

    async def open(self) -> None:
        """Connect; returns once the server accepted the stream, else raises :class:`StreamEnded`."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._read, name="mastodon-stream", daemon=True)
            self._thread.start()
        first = await self._queue.get()
        if first != _CONNECTED:
            raise StreamEnded(str(first))
        self._heard = asyncio.get_running_loop().time()

    async def next(self, timeout: float) -> list[Mapping[str, Any]]:
        """The notifications that arrived, waiting up to ``timeout`` seconds for the first one."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            silent_until = self._heard + self._read_timeout
            try:
                item = await asyncio.wait_for(
                    self._queue.get(), timeout=max(0.0, min(deadline, silent_until) - loop.time())
                )
            except TimeoutError:
                if loop.time() >= silent_until:  # the socket's own read timeout should have said so already
                    self.close()
                    raise StreamEnded(f"nothing came for {self._read_timeout:g}s, not even a heartbeat") from None
                return []
            self._heard = loop.time()
            items = [item]
            while not self._queue.empty():
                items.append(self._queue.get_nowait())
            notifications: list[Mapping[str, Any]] = []
            for one in items:
                if isinstance(one, StreamEnded):
                    raise one
                if isinstance(one, Mapping):
                    notifications.append(one)
            if notifications:
                return notifications

    def close(self) -> None:
        listener = self._listener
        listener.closed = True
        if listener.response is not None:
            listener.response.close()

    def _read(self) -> None:
        """The thread: stream until the connection ends, then say why."""
        try:
            self._client.stream_user(self._listener, timeout=self._read_timeout)
            reason = "the server closed the stream"
        except MastodonError as error:
            reason = str(error) or type(error).__name__
        except Exception as error:  # requests and urllib3 errors Mastodon.py lets through
            reason = f"{type(error).__name__}: {error}"
        self._listener.put(StreamEnded(reason))
