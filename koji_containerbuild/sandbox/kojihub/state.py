"""SQLite state of the sandbox hub.

The server process, worker processes (through XML-RPC) and the sandbox CLI
(directly) may share one database, so it runs in WAL mode with short
transactions and one connection per thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL, password TEXT,
    usertype INTEGER NOT NULL DEFAULT 0, status INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS permissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL, description TEXT);
CREATE TABLE IF NOT EXISTS user_perms (
    user_id INTEGER NOT NULL, perm_id INTEGER NOT NULL, PRIMARY KEY (user_id, perm_id));
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, user_id INTEGER NOT NULL,
    callnum INTEGER, start_ts REAL NOT NULL, expired INTEGER NOT NULL DEFAULT 0,
    master INTEGER);
CREATE TABLE IF NOT EXISTS channels (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL, description TEXT,
    enabled INTEGER NOT NULL DEFAULT 1, comment TEXT);
CREATE TABLE IF NOT EXISTS hosts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER UNIQUE NOT NULL,
    name TEXT UNIQUE NOT NULL, arches TEXT NOT NULL DEFAULT 'x86_64',
    capacity REAL NOT NULL DEFAULT 2.0, task_load REAL NOT NULL DEFAULT 0.0,
    ready INTEGER NOT NULL DEFAULT 0, enabled INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS host_channels (
    host_id INTEGER NOT NULL, channel_id INTEGER NOT NULL, PRIMARY KEY (host_id, channel_id));
CREATE TABLE IF NOT EXISTS tags (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL, arches TEXT,
    locked INTEGER NOT NULL DEFAULT 0, perm_id INTEGER, extra TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS targets (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL,
    build_tag INTEGER NOT NULL, dest_tag INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS packages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS tag_packages (
    tag_id INTEGER NOT NULL, package_id INTEGER NOT NULL, owner_id INTEGER NOT NULL,
    blocked INTEGER NOT NULL DEFAULT 0, extra_arches TEXT, PRIMARY KEY (tag_id, package_id));
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, state INTEGER NOT NULL, method TEXT NOT NULL,
    request TEXT NOT NULL, result TEXT, owner INTEGER NOT NULL, channel_id INTEGER NOT NULL,
    host_id INTEGER, parent INTEGER, label TEXT, arch TEXT NOT NULL DEFAULT 'noarch',
    priority INTEGER NOT NULL DEFAULT 20, weight REAL NOT NULL DEFAULT 1.0,
    waiting INTEGER, awaited INTEGER, create_ts REAL NOT NULL, start_ts REAL,
    completion_ts REAL);
CREATE TABLE IF NOT EXISTS content_generators (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS cg_users (
    cg_id INTEGER NOT NULL, user_id INTEGER NOT NULL, PRIMARY KEY (cg_id, user_id));
CREATE TABLE IF NOT EXISTS builds (
    id INTEGER PRIMARY KEY AUTOINCREMENT, package_id INTEGER NOT NULL, version TEXT NOT NULL,
    release TEXT NOT NULL, epoch INTEGER, state INTEGER NOT NULL, task_id INTEGER,
    owner_id INTEGER NOT NULL, source TEXT, extra TEXT, cg_id INTEGER, token TEXT,
    create_event INTEGER NOT NULL, create_ts REAL NOT NULL, start_ts REAL,
    completion_ts REAL);
CREATE TABLE IF NOT EXISTS archives (
    id INTEGER PRIMARY KEY AUTOINCREMENT, build_id INTEGER NOT NULL, type_name TEXT NOT NULL,
    btype TEXT NOT NULL, buildroot_id INTEGER, filename TEXT NOT NULL, size INTEGER NOT NULL,
    checksum TEXT NOT NULL, checksum_type INTEGER NOT NULL, extra TEXT);
CREATE TABLE IF NOT EXISTS tag_listing (
    tag_id INTEGER NOT NULL, build_id INTEGER NOT NULL, create_event INTEGER NOT NULL,
    owner_id INTEGER, PRIMARY KEY (tag_id, build_id));
CREATE TABLE IF NOT EXISTS build_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, build_id INTEGER NOT NULL, filename TEXT NOT NULL,
    subdir TEXT NOT NULL DEFAULT '');
"""

DEFAULT_PERMISSIONS = [
    "admin",
    "appliance",
    "dist-repo",
    "host",
    "image",
    "image-import",
    "livecd",
    "maven-import",
    "repo",
    "sign",
    "tag",
    "target",
    "win-admin",
    "win-import",
    "draft-promoter",
]


class Database:
    """Thread-safe access to db.sqlite: one connection per thread, WAL mode."""

    def __init__(self, path: str):
        self.path = path
        self._local = threading.local()
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.connection().executescript(SCHEMA)
        with self.write() as cnx:
            for name in DEFAULT_PERMISSIONS:
                cnx.execute("INSERT OR IGNORE INTO permissions (name) VALUES (?)", (name,))
            if cnx.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0:
                cnx.execute("INSERT INTO events (ts) VALUES (?)", (time.time(),))

    def connection(self) -> sqlite3.Connection:
        cnx = getattr(self._local, "cnx", None)
        if cnx is None:
            cnx = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            cnx.row_factory = sqlite3.Row
            cnx.execute("PRAGMA journal_mode=WAL")
            cnx.execute("PRAGMA synchronous=NORMAL")
            self._local.cnx = cnx
        return cnx

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locked) transaction, committed on success."""
        cnx = self.connection()
        if cnx.in_transaction:  # nested: join the outer transaction
            yield cnx
            return
        cnx.execute("BEGIN IMMEDIATE")
        try:
            yield cnx
        except BaseException:
            cnx.execute("ROLLBACK")
            raise
        cnx.execute("COMMIT")

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several SELECTs."""
        cnx = self.connection()
        if cnx.in_transaction:
            yield cnx
            return
        cnx.execute("BEGIN")
        try:
            yield cnx
        finally:
            cnx.execute("COMMIT")

    def one(self, sql: str, params: tuple = ()) -> dict | None:
        row = self.connection().execute(sql, params).fetchone()
        return dict(row) if row is not None else None

    def all(self, sql: str, params: tuple = ()) -> list[dict]:
        return [dict(row) for row in self.connection().execute(sql, params).fetchall()]

    def new_event(self, cnx: sqlite3.Connection) -> int:
        """Record a state change, as every write on a real hub creates an event."""
        return cnx.execute("INSERT INTO events (ts) VALUES (?)", (time.time(),)).lastrowid

    def close(self) -> None:
        cnx = getattr(self._local, "cnx", None)
        if cnx is not None:
            cnx.close()
            self._local.cnx = None


def dump_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def load_json(text: str | None) -> Any:
    return json.loads(text) if text else None
