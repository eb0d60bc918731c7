"""The SQLite job store under ``FARMHAND_HOME`` (``paths.jobs_db()``) and the render logs beside it.

:mod:`.database` holds the schema, the connection and transactions; :mod:`.tables` the typed reads and
writes of every table (:class:`Store`); :mod:`.rows` turns rows into records; :mod:`.logs` keeps what
nodes printed, as files.
"""

from __future__ import annotations

from farmhand.engine.store.database import KEEP, Change, Keep
from farmhand.engine.store.logs import append_log, log_path, read_logs
from farmhand.engine.store.rows import Command, JobHeader
from farmhand.engine.store.tables import Store

__all__ = ["KEEP", "Change", "Command", "JobHeader", "Keep", "Store", "append_log", "log_path", "read_logs"]
