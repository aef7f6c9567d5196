"""The embedded broker publishes atomically: a consumer racing the publisher never reads a half-written message."""

from __future__ import annotations

import threading

from django.conf import settings
from kombu import Connection

from annotator.broker import Channel, Transport
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


def test_a_publisher_binding_while_another_writes_the_table_loses_no_message(tmp_path, monkeypatch):
    """The race behind the flake above, made deterministic. Kombu records a binding in a state that all
    connections of the process share, then writes it to the exchange table; a connection binding the
    same queue in between found it recorded, skipped the table and published by a table without the
    binding: kombu dropped the message, with no error and no file."""
    write_table = Channel._queue_bind
    with _connection(tmp_path) as consumer_conn, _connection(tmp_path) as publisher_conn:

        def publish_before_the_table_is_written(channel, *binding):
            monkeypatch.setattr(Channel, "_queue_bind", write_table)  # once: the publisher binds as usual
            publisher_conn.SimpleQueue("interleaved").put({"n": 1})
            write_table(channel, *binding)

        monkeypatch.setattr(Channel, "_queue_bind", publish_before_the_table_is_written)
        consumer = consumer_conn.SimpleQueue("interleaved")  # the publisher runs inside this bind
        message = consumer.get_nowait()  # Empty if the message was dropped
        message.ack()
    assert message.payload == {"n": 1}


def test_a_second_broker_folder_in_the_process_gets_its_binding_too(tmp_path):
    """The shared state outlives a connection: a later broker folder (another test, another
    ``control_folder``) binding the same queue got no table, and every message to it was dropped."""
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        with _connection(tmp_path / name) as conn:
            queue = conn.SimpleQueue("folders")
            queue.put({"folder": name})
            message = queue.get_nowait()  # Empty if the message was dropped
            message.ack()
        assert message.payload == {"folder": name}


def test_the_app_uses_the_atomic_transport_on_the_embedded_broker():
    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        assert app.conf.broker_transport in (None, "")  # Redis in CI: kombu's own transport
        return
    with app.connection_for_write() as conn:
        assert isinstance(conn.transport, Transport)
