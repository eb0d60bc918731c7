"""Previews of a farm-database job: the preview thread opens its own connection to the store the home
chose (``FARMHAND_STORE`` or ``store.url`` in ``dispatcher.json``), not a SQLite store in FARMHAND_HOME,
and closes it when the previews stop."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from farmhand import paths
from farmhand.engine import images, previews
from farmhand.engine.pg.roles import FarmRole
from farmhand.engine.pg.store import PgStore
from farmhand.jobs import FrameState, JobSpec

from .conftest import FarmDb


def _frame(path: Path, level: float) -> str:
    """A small real PNG, as a renderer would have written it."""
    spec = oiio.ImageSpec(64, 36, 3, oiio.UINT8)
    buf = oiio.ImageBuf(spec)
    buf.set_pixels(oiio.ROI(), np.full((36, 64, 3), level, dtype=np.float32))
    assert buf.write(str(path))
    return str(path)


def _sessions(farm_db: FarmDb) -> int:
    """Connections to the farm database other than the one asking."""
    with farm_db.admin() as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                           "AND pid <> pg_backend_pid()", (farm_db.name,)).fetchone()
    return int(row[0]) if row else -1


@pytest.mark.filterwarnings("error::ResourceWarning")  # a connection left open is a failure
@pytest.mark.parametrize("chosen_by", ["environment", "file"])
def test_previews_are_made_for_a_farm_database_job(
        farmhand_home: Path, farm_db: FarmDb, monkeypatch: pytest.MonkeyPatch, chosen_by: str) -> None:
    assert images.available(), "OpenImageIO is part of the test extra"
    dispatcher = farm_db.user(FarmRole.DISPATCHER, "disp")
    monkeypatch.delenv("FARMHAND_STORE", raising=False)
    farmhand_home.mkdir(parents=True, exist_ok=True)
    if chosen_by == "environment":
        monkeypatch.setenv("FARMHAND_STORE", dispatcher.url)
    else:
        (farmhand_home / "dispatcher.json").write_text(json.dumps({"store": {"url": dispatcher.url}}))
    out = farmhand_home.parent / "share"
    out.mkdir()
    outputs = [_frame(out / f"beauty.{f:04d}.png", 0.2 * f) for f in (1, 2, 3)]
    store = PgStore(dispatcher.url)
    try:
        job = store.insert_job(JobSpec(preset="demo", frames="1-3"), [1.0, 2.0, 3.0], outputs)
        store.update_frames(job, [0, 2], state=FrameState.DONE)
    finally:
        store.close()
    assert _sessions(farm_db) == 0

    maker = previews.Previews()  # its own thread, as in the dispatcher
    maker.request([job], now=0.0)
    deadline = time.monotonic() + 60  # a bound, so a sweep that never comes fails instead of hanging
    while len(previews.listing(job)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    made = previews.listing(job)
    maker.close(wait=True)
    assert sorted(made) == [1, 3]  # the done frames of the farm database's job, and only those
    assert all(path.stat().st_size > 0 for path in made.values())
    assert not paths.jobs_db().exists()  # no SQLite store was opened in FARMHAND_HOME
    assert _sessions(farm_db) == 0  # the preview thread closed its connection when the previews stopped

