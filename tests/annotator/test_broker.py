"""The embedded broker publishes atomically: a consumer racing the publisher never reads a half-written message."""

from __future__ import annotations

import threading

from django.conf import settings
from kombu import Connection

from annotator.broker import Transport
from annotator.celery import app

MESSAGES = 1500


def _connection(folder) -> Connection:
    options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "control_folder": str(folder / "control"),  # the exchange tables: this test's own, not the cwd's
        "store_processed": False,
        "polling_interval": 0.0,
    }
    return Connection("filesystem://", transport=Transport, transport_options=options)


def test_a_consumer_racing_the_publisher_gets_every_message_whole(tmp_path):
    received: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def consume() -> None:
        with _connection(tmp_path) as conn:
            queue = conn.SimpleQueue("race")
            try:
                while len(received) < MESSAGES:
                    # raises on a half-written (undecodable) file; Empty only if a message never comes
                    message = queue.get(timeout=30)
                    received.append(message.payload["n"])
                    message.ack()
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                errors.append(exc)
            finally:
                done.set()

    consumer = threading.Thread(target=consume)
    consumer.start()
    with _connection(tmp_path) as conn:
        queue = conn.SimpleQueue("race")
        for n in range(MESSAGES):
            queue.put({"n": n, "pad": "x" * 2000})  # a payload big enough to take more than one write
    done.wait(120)
    consumer.join(5)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert errors == [], (
        f"{errors} after {len(received)} of {MESSAGES} messages; left in the folder: {left[:5]}"
    )
    assert sorted(received) == list(range(MESSAGES))  # all, once each (kombu orders by the millisecond only)
    assert not [p.name for p in tmp_path.rglob("*.partial")]


def test_the_app_uses_the_atomic_transport_on_the_embedded_broker():
    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        assert app.conf.broker_transport in (None, "")  # Redis in CI: kombu's own transport
        return
    with app.connection_for_write() as conn:
        assert isinstance(conn.transport, Transport)
