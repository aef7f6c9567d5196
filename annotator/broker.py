"""The embedded broker: kombu's filesystem transport, with each message published atomically.

Kombu's own ``_put`` creates the message file under its final name and then writes it, while a
consumer that lists the folder in between moves the still-empty file away and fails to decode it:
the message is lost and the worker stops with "Unrecoverable error: JSONDecodeError" (seen here in
the test suite when a review flushed about 30 trust-gate refreshes a second). Here a message is
written whole under a name no consumer matches (``....msg.partial``) and renamed into place, which
is atomic on one file system, so a consumer sees a complete message or none. The exchange tables
(``control_folder``) had the same race: kombu creates a table's file and only then locks and writes
it, so a publisher looking the table up in between read an empty file (seen in CI in
``tests/annotator/test_broker.py``). Here a missing table is first created whole, by a link that only
one binder can win, and kombu then adds the binding under its lock. The bindings had a third race:
kombu keeps them in a state that all connections of a process share, and writes a binding to the
table only if that state lacked it. A second connection binding the same queue while the first was
still writing the table (or later, with another ``control_folder``) went on at once and published by
a table without the binding, and kombu drops a message no binding routes, silently (the flake in
``tests/annotator/test_broker.py``: 129 of 1,500 messages neither delivered nor on disk). Here every
bind makes sure that the table has the binding before it returns. Only the demo and the tests use
this transport (``CELERY_BROKER_URL=filesystem://``); production runs on Redis.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"  # kombu's naming: FIFO by time
        final = os.path.join(self.data_folder_out, name)
        partial = f"{final}.partial"  # consumers take only names ending in "<queue>.msg"
        try:
            with open(partial, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def queue_bind(
        self,
        queue: str,
        exchange: str | None = None,
        routing_key: str = "",
        arguments: Any = None,
        **kwargs: Any,
    ) -> None:
        # kombu writes the table only if this process has not recorded the binding yet
        super().queue_bind(queue, exchange, routing_key, arguments, **kwargs)
        exchange = exchange or "amq.direct"  # kombu's default, as in super()
        binding = self.typeof(exchange).prepare_bind(queue, exchange, routing_key, arguments)
        self._queue_bind(exchange, *binding)  # idempotent: kombu adds a binding only if it is missing

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str, queue: str) -> None:
        table = self._exchange_file(exchange)
        if not table.exists():
            self.control_folder.mkdir(parents=True, exist_ok=True)
            partial = table.with_name(f"{table.name}.{uuid.uuid4()}.partial")
            partial.write_bytes(str_to_bytes(dumps([])))
            try:
                os.link(partial, table)  # atomic, and refused if another binder created it first
            except FileExistsError:
                pass
            finally:
                partial.unlink()
        super()._queue_bind(exchange, routing_key, pattern, queue)  # adds the binding under kombu's lock


class Transport(filesystem.Transport):
    Channel = Channel
