"""Record a real job snapshot for the UI tests (run by hand as root; not collected by pytest).

    .venv/bin/python tests/ui/record_live_snapshot.py tests/data/ui/live_job_snapshot.json

Starts the lab (4 real sshd nodes), the real dispatcher and the demo renderer with one frame that dies out
of memory on every node, waits until the job is well under way, and writes ``Client.job()`` as JSON (the
temporary share path replaced by ``/share``). ``test_recorded_snapshot.py`` replays it through the panel.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path


def main(out: Path) -> int:
    with tempfile.TemporaryDirectory(prefix="fh-record-") as tmp:
        base = Path(tmp)
        os.environ["FARMHAND_HOME"] = str(base / "home")
        os.environ["HOME"] = str(base / "user")
        (base / "user" / ".ssh").mkdir(parents=True)
        os.environ.pop("SSH_AUTH_SOCK", None)
        share = base / "share"
        share.mkdir()
        from farmhand.client import Client, default_submitter
        from farmhand.jobs import JobSpec
        from farmhand.lab import LocalFarm
        from farmhand.nodes.registry import NodeState, Registry

        with LocalFarm(n=4, mode="netns") as farm:
            farm.trust()
            (base / "user" / ".ssh" / "config").write_text(farm.ssh_config_text())
            with farm.inside():
                registry = Registry()
                for node in farm.nodes:
                    registry.add(node.name, state=NodeState.TRUSTED)
                client = Client()
                job_id = client.submit(JobSpec(
                    preset="demo", frames="1001-1240", output=str(share / "shot010_beauty.$F4.png"),
                    name="shot010_beauty", priority=60, submitter=default_submitter(),
                    params=(("seconds_per_frame", "0.5"), ("fail_at", "1013"), ("fail_mode", "oom"))))
                try:
                    deadline = time.monotonic() + 120
                    while time.monotonic() < deadline:
                        snap = client.job(job_id)
                        if snap.summary.frames_done >= 60 and any(r.frame_percent for r in snap.nodes):
                            break
                        time.sleep(0.2)
                    data = json.dumps(snap.to_dict(), indent=1, sort_keys=True)
                finally:
                    client.cancel(job_id)
                    client.stop_dispatcher()
                    client.close()
        out.write_text(data.replace(str(share), "/share").replace(default_submitter(), "anna@ws-anna") + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
