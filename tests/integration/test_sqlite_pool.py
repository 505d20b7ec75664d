"""SQLite pool: the connection given back last is lent first.

A SQLite connection keeps the pages it read until another connection writes. Lent in
turn (first in, first out), every unit of work found a cache emptied by the writes of
the connections before it and read its pages again with ``pread`` (3.9-4.8 % of an API
worker's samples under ``perf``; 1.4 % with the last connection lent again,
bench/README.md, seventh round)."""

from __future__ import annotations

from kopilka.store.db import make_engine


def test_the_connection_given_back_last_is_lent_first(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'k.db'}")
    try:
        first, second = engine.raw_connection(), engine.raw_connection()
        first_driver, second_driver = first.driver_connection, second.driver_connection
        first.close()
        second.close()  # given back last
        again = engine.raw_connection()
        assert again.driver_connection is second_driver
        assert again.driver_connection is not first_driver
        again.close()
    finally:
        engine.dispose()
