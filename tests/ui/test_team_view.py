"""The panel's words for a shared farm database, without Qt: dispatcher names, leases laid over the node
list, whose jobs the queue lists, and which columns have anything to show."""

from __future__ import annotations

from dataclasses import replace

import pytest

from farmhand.jobs import JobState, JobSummary
from farmhand.ui.view.columns import (
    JOB_COLUMNS,
    NODE_COLUMNS,
    column_index,
    hidden_job_columns,
    hidden_node_columns,
)
from farmhand.ui.view.convert import job_view, queue_view
from farmhand.ui.view.records import NodeStatus, NodeView
from farmhand.ui.view.summaries import ORANGE, node_details
from farmhand.ui.view.team import (
    UNKNOWN_HERE,
    dispatcher_name,
    empty_queue_words,
    lease_tooltip,
    lease_words,
    shown_jobs,
    with_leases,
)

from . import farm_data


def cell(title: str, node: NodeView) -> str:
    return NODE_COLUMNS[column_index(NODE_COLUMNS, title)].text(node)


@pytest.mark.parametrize(("dispatcher", "shown"), [
    ("dispatcher:ws-anna:4242", "ws-anna (pid 4242)"),
    ("dispatcher:farm.studio.lan:7", "farm.studio.lan (pid 7)"),
    # Anything else is shown as the database has it, never guessed at.
    ("dispatcher:ws-anna:", "dispatcher:ws-anna:"),
    ("dispatcher::4242", "dispatcher::4242"),
    ("dispatcher:ws-anna:42x", "dispatcher:ws-anna:42x"),
    ("farm-service-1", "farm-service-1"),
])
def test_dispatcher_ids_read_as_host_and_pid(dispatcher: str, shown: str) -> None:
    assert dispatcher_name(dispatcher) == shown


def test_a_lease_in_words_and_in_full() -> None:
    live = NodeView(host="render01", status=NodeStatus.IDLE, leased_by="dispatcher:ws-anna:4242",
                    lease_left=25.0)
    assert lease_words(live) == "ws-anna (pid 4242)"
    assert lease_tooltip(live).splitlines()[0] == "dispatcher:ws-anna:4242"
    assert "ends in 25s" in lease_tooltip(live)
    expired = replace(live, lease_left=-72.4)
    assert lease_words(expired) == "ws-anna (pid 4242), expired 1m12s ago"
    assert "expired 1m12s ago" in lease_tooltip(expired) and "take the node over" in lease_tooltip(expired)
    column = NODE_COLUMNS[column_index(NODE_COLUMNS, "Leased by")]
    assert column.colour is not None
    assert (column.colour(live), column.colour(expired)) == ("", ORANGE)
    free = replace(live, leased_by="", lease_left=None)
    assert (lease_words(free), lease_tooltip(free)) == ("", "")


def test_leases_find_their_nodes_by_name_shown_name_or_address() -> None:
    nodes = (
        NodeView(host="render01", address="10.0.0.11", status=NodeStatus.IDLE),
        NodeView(host="10.0.0.12", address="10.0.0.12", shown_as="render02", status=NodeStatus.IDLE),
        NodeView(host="render03", address="10.0.0.13", status=NodeStatus.IDLE),
        NodeView(host="render04", address="10.0.0.14", status=NodeStatus.IDLE),
    )
    leases = [("render01", "dispatcher:a:1", 30.0), ("render02", "dispatcher:b:2", 12.0),
              ("10.0.0.13", "dispatcher:a:1", -5.0), ("render09", "dispatcher:c:3", 40.0)]
    got = {n.host: n for n in with_leases(nodes, leases)}
    assert [(h, n.leased_by, n.lease_left) for h, n in got.items()] == [
        ("render01", "dispatcher:a:1", 30.0), ("10.0.0.12", "dispatcher:b:2", 12.0),
        ("render03", "dispatcher:a:1", -5.0), ("render04", "", None), ("render09", "dispatcher:c:3", 40.0)]
    # A leased node this machine's registry lacks is listed, said to be so, and offers no actions' words.
    ghost = got["render09"]
    assert (ghost.registered, ghost.status, ghost.note) == (False, NodeStatus.UNKNOWN, UNKNOWN_HERE)
    assert node_details(ghost) == f"render09 · leased by c (pid 3)\n{UNKNOWN_HERE}"
    assert "leased by a (pid 1), expired 5s ago" in node_details(got["render03"])


def test_a_registry_name_beats_another_nodes_address() -> None:
    # "render05" is one node's name and (oddly) another's address: each lease goes to one row only.
    nodes = (NodeView(host="10.0.0.15", address="render05", status=NodeStatus.IDLE),
             NodeView(host="render05", address="10.0.0.15", status=NodeStatus.IDLE))
    got = with_leases(nodes, [("10.0.0.15", "dispatcher:b:2", 9.0), ("render05", "dispatcher:a:1", 9.0)])
    assert [(n.host, n.leased_by) for n in got] == [("10.0.0.15", "dispatcher:b:2"),
                                                   ("render05", "dispatcher:a:1")]
    assert with_leases(nodes, []) == nodes


def test_a_scanned_node_goes_by_its_reported_name() -> None:
    scanned = NodeView(host="10.0.0.12", address="10.0.0.12", shown_as="render02", status=NodeStatus.IDLE)
    assert (cell("Node", scanned), cell("Address", scanned)) == ("render02", "10.0.0.12")
    assert node_details(scanned).startswith("render02 · 10.0.0.12 · ")
    unnamed = replace(scanned, shown_as="")
    assert (cell("Node", unnamed), cell("Address", unnamed)) == ("10.0.0.12", "")


def test_whose_jobs_the_queue_lists() -> None:
    mine = farm_data.job("j1")
    done = farm_data.job("j2", status=JobState.DONE)
    bobs = replace(farm_data.job("j3"), owner="bob", mine=False)
    jobs = (mine, done, bobs)

    def ids(**kw: object) -> list[str]:
        return [j.job_id for j in shown_jobs(jobs, **kw)]  # type: ignore[arg-type]

    assert ids(all_users=False, hide_finished=False) == ["j1", "j2"]
    assert ids(all_users=True, hide_finished=False) == ["j1", "j2", "j3"]
    assert ids(all_users=True, hide_finished=True) == ["j1", "j3"]
    # The selected job stays listed when it finishes; another user's job does not stay when unticked.
    assert ids(all_users=False, hide_finished=True, selected="j2") == ["j1", "j2"]
    assert ids(all_users=False, hide_finished=False, selected="j3") == ["j1", "j2"]


def test_what_an_empty_queue_says() -> None:
    bobs = replace(farm_data.job("j3"), owner="bob", mine=False)
    assert empty_queue_words(2, (bobs,), all_users=False) == "No job selected."
    assert empty_queue_words(0, (), all_users=False).startswith("No jobs in the queue yet")
    assert empty_queue_words(0, (bobs, bobs), all_users=False) == (
        "No job of yours on the farm (2 jobs of other users): tick All users to see them.")
    assert empty_queue_words(0, (bobs,), all_users=True).startswith("Every job is finished")


def test_columns_hidden_without_a_farm_database() -> None:
    assert hidden_job_columns(shared=False) == {"Owner"}
    assert hidden_job_columns(shared=True) == set()
    assert {"Owner"} <= {c.title for c in JOB_COLUMNS}
    nodes = farm_data.nodes(3)
    assert hidden_node_columns(nodes) == {"Leased by"}
    assert hidden_node_columns(()) == {"Leased by"}
    leased = (*nodes[:2], replace(nodes[2], leased_by="dispatcher:a:1", lease_left=3.0))
    assert hidden_node_columns(leased) == set()


def test_owner_and_submitter_of_a_job() -> None:
    summary = JobSummary(id="4", title="shot040", preset="demo", state=JobState.RUNNING, priority=50,
                         created=0.0, frames_total=2, frames_done=0, frames_failed=0, frames_rendering=0)
    local = job_view(summary, "anna@ws-anna")
    assert (local.owner, local.submitter, local.mine, local.who) == ("", "anna@ws-anna", True, "anna@ws-anna")
    farm = queue_view(summary, "bob@ws-bob", {}, set(), (), owner="bob", mine=False)
    assert (farm.owner, farm.submitter, farm.mine, farm.who) == ("bob", "bob@ws-bob", False, "bob")
    owner = JOB_COLUMNS[column_index(JOB_COLUMNS, "Owner")]
    job_tip = JOB_COLUMNS[column_index(JOB_COLUMNS, "Job")].tooltip
    assert owner.text(farm) == "bob" and job_tip is not None and "sent by bob@ws-bob" in job_tip(farm)
