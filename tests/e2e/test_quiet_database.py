"""The browser tests' teardown waits for the live server's open transactions before the tables are truncated."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection

from .conftest import wait_for_quiet_database


@pytest.mark.django_db(transaction=True)
def test_the_wait_ends_only_when_no_other_connection_is_inside_a_transaction():
    if connection.vendor != "postgresql":
        assert wait_for_quiet_database(timeout=0.1) is True  # SQLite: nothing to wait for
        pytest.skip("other connections' transactions are a PostgreSQL matter (CI runs it there)")
    settings = connection.settings_dict
    other = psycopg.connect(
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        dbname=settings["NAME"],
    )
    try:
        other.execute("SELECT 1")  # psycopg opens a transaction: 'idle in transaction' until it ends
        assert wait_for_quiet_database(timeout=0.3) is False
        other.commit()
        assert wait_for_quiet_database(timeout=5.0) is True
    finally:
        other.close()
