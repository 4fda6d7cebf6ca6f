"""SQLite state of the sandbox, kept in ``DATA_DIR/sandbox.db`` so it survives restarts.

Uploaded VCFs live as files in ``DATA_DIR/genomes``; the database keeps only
their metadata. Variants are never imported: they are read lazily from the
stored VCF at export time, and only per-variant overrides (status,
``to_report``, validation status) and their audit trail are stored here.
Statuses are not stored either: they are computed from timestamps (see
:mod:`.lifecycle`), except for explicit report status updates.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT, workspace_id INTEGER NOT NULL, name TEXT NOT NULL,
    description TEXT, share_role TEXT NOT NULL, created_by TEXT, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS genomes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, workspace_id INTEGER NOT NULL, project_id INTEGER NOT NULL,
    label TEXT NOT NULL, sex TEXT NOT NULL, external_id TEXT, assembly_version TEXT NOT NULL,
    format TEXT NOT NULL, checksum TEXT NOT NULL, size INTEGER NOT NULL, path TEXT NOT NULL,
    sample_count INTEGER NOT NULL, record_count INTEGER NOT NULL, fail_annotation INTEGER NOT NULL,
    bam_file TEXT, created_at REAL NOT NULL, annotated_at REAL NOT NULL, looks INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT, workspace_id INTEGER NOT NULL, project_id INTEGER,
    report_type TEXT NOT NULL, panel_id INTEGER, filter_id INTEGER, accession_id TEXT,
    assay_type_id INTEGER, proband_genome_id INTEGER, members TEXT NOT NULL, options TEXT NOT NULL,
    patient_fields TEXT NOT NULL DEFAULT '{}', created_by TEXT, created_at REAL NOT NULL,
    attached_at REAL, status_override TEXT, status_set_at REAL, approved_at REAL,
    looks INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS qc_data (
    id INTEGER PRIMARY KEY AUTOINCREMENT, report_id INTEGER NOT NULL, data TEXT NOT NULL,
    created_by TEXT, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS variant_overrides (
    report_id INTEGER NOT NULL, rvid INTEGER NOT NULL, status TEXT, to_report TEXT,
    validation_status TEXT, updated_at REAL NOT NULL, PRIMARY KEY (report_id, rvid));
CREATE TABLE IF NOT EXISTS variant_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, report_id INTEGER NOT NULL, rvid INTEGER NOT NULL,
    field TEXT NOT NULL, old_value TEXT, new_value TEXT, user TEXT, at REAL NOT NULL);
"""
#: Columns added after the first release: (table, column, definition), added to older data directories.
ADDED_COLUMNS = (
    ("genomes", "looks", "INTEGER NOT NULL DEFAULT 0"),
    ("reports", "looks", "INTEGER NOT NULL DEFAULT 0"),
)


class Store:
    """A thread-safe wrapper around one SQLite connection."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.genome_dir = data_dir / "genomes"
        self.genome_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(data_dir / "sandbox.db", check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        for table, column, definition in ADDED_COLUMNS:
            present = {row["name"] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(row) for row in self._db.execute(sql, args).fetchall()]

    def one(self, sql: str, args: Sequence[Any] = ()) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(sql, args).fetchone()
        return dict(row) if row is not None else None

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one statement; return the new row's id (for an INSERT)."""
        with self._lock:
            cursor = self._db.execute(sql, args)
            return int(cursor.lastrowid or 0)

    def execute_many(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> None:
        """Run several statements in one transaction."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                for sql, args in statements:
                    self._db.execute(sql, args)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def insert(self, table: str, values: dict[str, Any]) -> int:
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        return self.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(values.values()))  # noqa: S608  # nosec B608

    def update(self, table: str, row_id: int, values: dict[str, Any]) -> None:
        if values:
            assignments = ", ".join(f"{column} = ?" for column in values)
            self.execute(f"UPDATE {table} SET {assignments} WHERE id = ?", [*values.values(), row_id])  # noqa: S608  # nosec B608

    def close(self) -> None:
        with self._lock:
            self._db.close()


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
