"""The real backend over the real job store (a fresh FARMHAND_HOME, no dispatcher started): what the
panel's buttons send arrives as commands in the store, and the store's rows become the panel's records."""

from __future__ import annotations

import pytest

from farmhand.client import Client
from farmhand.engine.store import append_log
from farmhand.errors import NotFound
from farmhand.jobs import ChunkMode, ChunkPolicy, FrameState, JobState, NodeActivity, NodeRow
from farmhand.ui.client_backend import ClientBackend
from farmhand.ui.view.convert import frames_text, job_spec
from farmhand.ui.view.records import FrameStatus, NodeStatus, NodeView, SubmitRequest
from farmhand.ui.view.summaries import summary_html

pytestmark = pytest.mark.ui

NO_LICENCE = "No licenses could be found to run this application"


class ListedNodes:
    """Node list for the job-side tests (the registry-backed source has its own tests)."""

    def __init__(self, hosts: list[str]) -> None:
        self.hosts = hosts

    def nodes(self) -> list[NodeView]:
        return [NodeView(host=h, status=NodeStatus.IDLE, trusted=True, enabled=True) for h in self.hosts]


def request(**kw) -> SubmitRequest:
    values = dict(rop_path="/out/karma1", hip_path="/share/shot010.hip", frame_start=1.0, frame_end=12.0,
                  frame_step=1.0, preset="hrender")
    values.update(kw)
    return SubmitRequest(**values)


@pytest.fixture
def backend(farmhand_home) -> ClientBackend:
    return ClientBackend(lambda: Client(autostart=False), nodes=ListedNodes(["render01", "render02"]))


def test_submit_and_read_back(backend: ClientBackend) -> None:
    job_id = backend.submit(request(job_name="shot010 beauty", priority=70))
    snap = backend.snapshot(job_id)
    (job,) = snap.jobs
    assert (job.job_id, job.name, job.status, job.priority, job.frames_total) == (
        job_id, "shot010 beauty", JobState.QUEUED, 70, 12)
    assert "@" in job.submitter  # user@host of the submitter
    # A SQLite store: every job is the user's own, with no owner column and no leases.
    assert (job.owner, job.mine, snap.shared) == ("", True, False)
    assert not any(n.leased_by for n in snap.nodes)
    assert snap.detail is not None and len(snap.detail.frames) == 12
    assert {f.status for f in snap.detail.frames} == {FrameStatus.WAITING}
    assert [n.host for n in snap.nodes] == ["render01", "render02"]


def test_spec_from_request() -> None:
    spec = job_spec(request(frame_start=1001, frame_end=1100, frame_step=2, chunk_policy=ChunkMode.FIXED,
                            chunk_size=8, nodes=("render02",), single_node=True, houdini_version="21.0.512"))
    assert (spec.frames, spec.chunk, spec.nodes, spec.single_node, spec.houdini_version) == (
        "1001-1100x2", ChunkPolicy.fixed(8), ("render02",), True, "21.0.512")
    assert (spec.file, spec.target, spec.preset) == ("/share/shot010.hip", "/out/karma1", "hrender")
    assert job_spec(request(chunk_policy=ChunkMode.SINGLE)).chunk == ChunkPolicy.fixed(1)
    assert job_spec(request()).chunk == ChunkPolicy()
    assert frames_text(request(frame_start=1.5, frame_end=3, frame_step=0.5)) == "1.5-3x0.5"


def test_buttons_become_store_commands(backend: ClientBackend) -> None:
    job_id = backend.submit(request())
    backend.pause(job_id)
    backend.resume(job_id)
    backend.set_priority(job_id, 90)
    backend.requeue_frame(job_id, 3.0)
    backend.retry_failed(job_id)
    backend.cancel(job_id)
    commands = [(job, op.value, arg) for _, job, op, arg in backend.client().store.pending_commands()]
    assert commands == [
        (job_id, "pause", {}), (job_id, "resume", {}), (job_id, "priority", {"priority": 90}),
        (job_id, "requeue_frame", {"frame": 3}), (job_id, "retry", {}), (job_id, "cancel", {}),
    ]


def test_requeue_of_a_frame_the_job_lacks_is_refused(backend: ClientBackend) -> None:
    job_id = backend.submit(request())
    with pytest.raises(NotFound, match="has no frame 99"):
        backend.requeue_frame(job_id, 99.0)


def test_progress_and_failures_in_words(backend: ClientBackend) -> None:
    job_id = backend.submit(request())
    store = backend.client().store
    store.update_frames(job_id, [0, 1], state=FrameState.DONE.value, node="render01", attempts=1, seconds=2.5)
    store.update_frames(job_id, [2], state=FrameState.FAILED.value, node="render02", attempts=4,
                        error_kind="oom", error_message="Killed (signal 9)")
    store.update_frames(job_id, [3], state=FrameState.RETRYING.value, node="render02", attempts=1,
                        error_kind="licence", error_message=NO_LICENCE)
    store.set_progress(job_id, NodeRow("render01", NodeActivity.RENDERING, current_frame=5,
                                       frame_percent=40.0, frames_done=2, seconds_per_frame=2.5,
                                       chunk_frames=4, chunk_done=1))
    store.set_progress(job_id, NodeRow("render02", NodeActivity.BLOCKED, message="renderer crashed twice"))
    # render01's chunk is frames 5-8 and it is on frame 5: the rest of its chunk is only assigned.
    store.update_frames(job_id, [4, 5, 6, 7], state=FrameState.RENDERING.value, node="render01")
    snap = backend.snapshot(job_id)
    assert snap.detail is not None
    frames = snap.detail.frames
    assert [f.status for f in frames[:4]] == [FrameStatus.DONE, FrameStatus.DONE, FrameStatus.FAILED,
                                              FrameStatus.RETRYING]
    assert [f.status for f in frames[4:9]] == [
        FrameStatus.RENDERING, FrameStatus.ASSIGNED, FrameStatus.ASSIGNED, FrameStatus.ASSIGNED,
        FrameStatus.WAITING]
    assert snap.detail.job.frames_rendering == 1
    assert frames[2].error == "out of memory: Killed (signal 9)"
    assert frames[3].error == f"no render licence free: {NO_LICENCE}"
    nodes = {n.host: n for n in snap.detail.nodes}
    assert (nodes["render01"].current_frame, nodes["render01"].frame_percent, nodes["render01"].share) == (
        5.0, 40.0, 0.25)
    assert nodes["render02"].state == "blocked" and nodes["render02"].error == "renderer crashed twice"
    # The Nodes tab shows who a node renders for, and a node blocklisted by the running job.
    states = {n.host: (n.status, n.rendering_for, n.note) for n in snap.nodes}
    owner = snap.jobs[0].submitter
    assert states["render01"] == (NodeStatus.RENDERING, f"shot010.hip /out/karma1 ({owner})", "")
    assert states["render02"] == (NodeStatus.BLOCKLISTED, "",
                                  f"shot010.hip /out/karma1 ({owner}): renderer crashed twice")


def test_unchanged_store_reuses_the_detail(backend: ClientBackend) -> None:
    job_id = backend.submit(request(frame_end=5000))
    first = backend.snapshot(job_id)
    second = backend.snapshot(job_id)
    assert second.detail is first.detail  # nothing changed: nothing was rebuilt
    backend.client().store.update_frames(job_id, [0], state=FrameState.DONE.value)
    third = backend.snapshot(job_id)
    assert third.detail is not first.detail and third.detail is not None
    assert third.detail.frames[0].status == FrameStatus.DONE


def test_logs_of_job_node_and_frame(backend: ClientBackend) -> None:
    job_id = backend.submit(request())
    append_log(job_id, "render01", [(1000.0, 1, "out", "ALF_PROGRESS 50%"),
                                    (1001.0, 2, "err", "Error: boom")])
    append_log(job_id, "render02", [(1000.5, 3, "out", "frame 3 done")])
    whole = backend.log(job_id).splitlines()
    assert [line.split(" ", 1)[1] for line in whole] == [
        "render01 f1 out: ALF_PROGRESS 50%", "render02 f3 out: frame 3 done", "render01 f2 err: Error: boom"]
    assert backend.log(job_id, "render02").endswith("render02 f3 out: frame 3 done")
    assert backend.log(job_id, frame=2.0).endswith("render01 f2 err: Error: boom")
    with pytest.raises(NotFound):
        backend.log("4242")


def test_presets_are_listed(backend: ClientBackend) -> None:
    assert {"hrender", "husk", "blender"} <= set(backend.presets())


def test_a_job_that_vanished_has_no_detail(backend: ClientBackend) -> None:
    job_id = backend.submit(request())
    snap = backend.snapshot("4242")
    assert snap.detail is None and [j.job_id for j in snap.jobs] == [job_id]


def test_buttons_reach_the_real_client(qtbot, backend: ClientBackend) -> None:
    from farmhand.ui.panel import FarmhandPanel
    from farmhand.ui.qt import Qt

    job_id = backend.submit(request(job_name="shot010 beauty"))
    panel = FarmhandPanel(backend, poll_seconds=0.1)
    qtbot.addWidget(panel)
    panel.show()
    tab = panel.jobs_tab
    tab.confirm = lambda title, question: True
    qtbot.waitUntil(lambda: len(tab.grid.frames()) == 12, timeout=5000)
    tab.priority_spin.setValue(75)
    for button in (tab.pause_button, tab.priority_button, tab.cancel_button):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    store = backend.client().store

    def sent() -> list[tuple[str, dict]]:
        return [(op.value, arg) for _, job, op, arg in store.pending_commands() if job == job_id]

    qtbot.waitUntil(lambda: len(sent()) == 3, timeout=5000)
    expected = [("cancel", {}), ("pause", {}), ("priority", {"priority": 75})]
    assert sorted(sent(), key=lambda c: c[0]) == expected
    panel.detach()


def test_a_job_waiting_for_another_says_which(backend: ClientBackend) -> None:
    from farmhand.jobs import JobSpec, JobState

    client = backend.client()
    sim = backend.submit(request(job_name="shot010_sim", single_node=True))
    render = client.submit(JobSpec(preset="hrender", frames="1-12", file="/share/shot010.hip",
                                   target="/out/karma1", name="shot010_beauty", after=(sim,)))
    # What the dispatcher's dependency gate writes while the sim runs.
    client.store.update_job(render, state=JobState.WAITING.value)
    snap = backend.snapshot(render)
    job = next(j for j in snap.jobs if j.job_id == render)
    assert job.status is JobState.WAITING  # not shown as "queued"
    assert job.note == f"waiting for job {sim} (shot010_sim) to finish"
    assert snap.detail is not None and snap.detail.job.waiting_for == f"job {sim} (shot010_sim)"
    assert f"waiting for job {sim} (shot010_sim) to finish" in summary_html(snap.detail.job)
    assert "ETA" not in summary_html(snap.detail.job)
    # The sim is done: a job still marked waiting names what it was held for, never nothing.
    client.store.update_job(sim, state=JobState.DONE.value)
    job = next(j for j in backend.snapshot(None).jobs if j.job_id == render)
    assert job.waiting_for == f"job {sim} (shot010_sim)"


def test_a_running_job_no_node_works_on_says_why(backend: ClientBackend) -> None:
    from farmhand.jobs import JobState

    job_id = backend.submit(request(job_name="shot030_beauty"))
    store = backend.client().store
    store.update_job(job_id, state=JobState.RUNNING.value)
    why = "licence unavailable; retrying in 80s"
    store.set_progress(job_id, NodeRow("render01", NodeActivity.BACKOFF, message=why))
    store.set_progress(job_id, NodeRow("render02", NodeActivity.RENDERING, current_frame=3))
    snap = backend.snapshot(job_id)
    assert snap.jobs[0].message == ""  # one node still renders: nothing to say
    store.set_progress(job_id, NodeRow("render02", NodeActivity.BACKOFF, message=why))
    snap = backend.snapshot(job_id)
    expected = f"no node is rendering it: 2 backing off ({why})"
    assert snap.jobs[0].message == expected and snap.jobs[0].note == expected
    assert snap.detail is not None and expected in summary_html(snap.detail.job)
    # A paused job is held on purpose: no alarm.
    store.update_job(job_id, state=JobState.PAUSED.value)
    assert backend.snapshot(job_id).jobs[0].message == ""
