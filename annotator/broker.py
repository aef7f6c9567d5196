"""The embedded broker: kombu's filesystem transport, with each message published atomically.

Kombu's own ``_put`` creates the message file under its final name and then writes it, while a
consumer that lists the folder in between moves the still-empty file away and fails to decode it:
the message is lost and the worker stops with "Unrecoverable error: JSONDecodeError" (seen here in
the test suite when a review flushed about 30 trust-gate refreshes a second). Here a message is
written whole under a name no consumer matches (``....msg.partial``) and renamed into place, which
is atomic on one file system, so a consumer sees a complete message or none. Only the demo and the
tests use this transport (``CELERY_BROKER_URL=filesystem://``); production runs on Redis.
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


class Transport(filesystem.Transport):
    Channel = Channel
