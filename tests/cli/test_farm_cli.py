"""`farmhand nodes tag|untag|tags`, `limits`, `power` and the submit flags --group/--limit/--env: each
command's text and --json, bad input as one line (exit 2), unknown names as one line (exit 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from farmhand.cli import build_parser, main
from farmhand.cli import jobs as cli_jobs
from farmhand.cli.live import render_status
from farmhand.client import Client
from farmhand.jobs import JobSnapshot, JobSpec, JobState, JobSummary
from farmhand.nodes.registry import NodeState, Registry

Capture = pytest.CaptureFixture[str]


def run(capsys: Capture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_tag_untag_and_list_tags(farmhand_home: Path, capsys: Capture) -> None:
    registry = Registry()
    registry.add("render01")
    registry.record_inventory("render01", {"hostname": "r1", "os": "Linux", "cpus_logical": 8,
                                           "gpus": [{"name": "RTX"}]})
    registry.add("render02")
    registry.set_enabled("render02", False)
    assert run(capsys, "nodes", "tag", "render01", "LookDev", "fast")[:2] == (0, "render01: fast lookdev\n")
    code, out, _ = run(capsys, "nodes", "untag", "render01", "fast", "--json")
    assert code == 0 and json.loads(out)["manual"] == ["lookdev"]
    code, out, _ = run(capsys, "nodes", "tags")
    assert "render01         cores=8 gpu linux  + lookdev" in out
    assert "render02         (not probed)  (not used: untrusted or disabled)" in out
    assert "groups: gpu, linux, lookdev;" in out
    data = json.loads(run(capsys, "nodes", "tags", "--json")[1])
    assert data["groups"] == ["gpu", "linux", "lookdev"]


def test_tag_refuses_bad_tags_and_unknown_nodes(farmhand_home: Path, capsys: Capture) -> None:
    code, _, err = run(capsys, "nodes", "tag", "render01", "bad tag")
    assert code == 2 and len(err.splitlines()) == 1 and "tag 'bad tag' is not valid" in err
    code, _, err = run(capsys, "nodes", "tag", "nowhere", "gpu")
    assert code == 1 and "no node named 'nowhere'" in err and len(err.splitlines()) == 1


def test_limits_set_list_rm(farmhand_home: Path, capsys: Capture) -> None:
    assert run(capsys, "limits", "list")[1] == "no limits; create one with 'farmhand limits set NAME N'\n"
    assert run(capsys, "limits", "set", "karma", "4")[1] == "limit karma: 4\n"
    assert run(capsys, "limits", "set", "gpu", "1", "--per-node")[1] == "limit gpu: 1 per node\n"
    out = run(capsys, "limits", "list")[1].splitlines()
    assert out[0].split() == ["LIMIT", "CAPACITY", "IN", "USE", "WAITING"]
    assert out[1].split() == ["gpu", "1", "0", "0", "per", "node"]
    assert out[2].split() == ["karma", "4", "0", "0"]
    data = json.loads(run(capsys, "limits", "list", "--json")[1])
    assert [(d["name"], d["capacity"], d["per_node"]) for d in data] == [("gpu", 1, True),
                                                                        ("karma", 4, False)]
    assert run(capsys, "limits", "rm", "karma")[1] == "limit karma removed\n"
    code, _, err = run(capsys, "limits", "rm", "karma")
    assert code == 1 and "there is no limit named karma" in err


@pytest.mark.parametrize(("argv", "words"), [
    (["limits", "set", "karma", "-1"], "out of range"),
    (["limits", "set", "karma", "many"], "not a whole number"),
    (["limits", "set", "bad name", "2"], "limit 'bad name' is not valid"),
    (["power", "set", "--all", "--idle", "nan", "--command", "systemctl suspend"], "out of range"),
    (["power", "set", "--all", "--idle", "60"], "--command"),
    (["power", "set", "--idle", "60", "--command", "x"], "one of the arguments --all --node --group"),
    (["submit", "--preset", "demo", "--frames", "1", "--group", "cores>16"], "group 'cores>16' is not valid"),
    (["submit", "--preset", "demo", "--frames", "1", "--env", "1A=b"], "name '1A' is not valid"),
    (["submit", "--preset", "demo", "--frames", "1", "--env", "novalue"], "write NAME=VALUE"),
    (["submit", "--preset", "demo", "--frames", "1", "--limit", "-k"], "expected one argument"),
])
def test_bad_input_is_one_line_exit_2(argv: list[str], words: str, farmhand_home: Path,
                                      capsys: Capture) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and len(err.splitlines()) == 1 and words in err, err


def test_power_set_list_rm(farmhand_home: Path, capsys: Capture) -> None:
    Registry().add("render03")
    code, out, _ = run(capsys, "power", "set", "--node", "render03", "--idle", "1800",
                       "--command", "sudo -n systemctl 'suspend'", "--boot-timeout", "120")
    assert code == 0
    assert out == ("node:render03: after 30m00s idle run sudo -n systemctl suspend; "
                   "a woken node has 2m00s to answer SSH\n")
    run(capsys, "power", "set", "--group", "Workstations", "--idle", "60", "--command", "systemctl suspend")
    rules = json.loads(run(capsys, "power", "list", "--json")[1])["rules"]
    assert [(r["scope"], r["command"]) for r in rules] == [
        ("group:workstations", ["systemctl", "suspend"]),
        ("node:render03", ["sudo", "-n", "systemctl", "suspend"])]
    Client(autostart=False).farm.set_node_power("render03", "asleep", "asleep: SSH no longer answers", 1.0)
    out = run(capsys, "power", "list")[1]
    assert "render03         asleep       asleep: SSH no longer answers" in out
    assert run(capsys, "power", "rm", "--group", "workstations")[0] == 0
    code, _, err = run(capsys, "power", "rm", "--all")
    assert code == 1 and "no power rule for all" in err
    code, _, err = run(capsys, "power", "set", "--node", "typo", "--idle", "1", "--command", "x")
    assert code == 1 and "no node named 'typo'" in err
    code, _, err = run(capsys, "power", "set", "--all", "--idle", "1", "--command", "'unclosed")
    assert code == 2 and "check its quotes" in err


def test_submit_flags_fill_the_spec_and_a_group_no_node_is_in_is_refused(farmhand_home: Path,
                                                                          capsys: Capture) -> None:
    argv = ["submit", "--preset", "demo", "--frames", "1-4", "--output", str(farmhand_home / "f.$F4.png"),
            "--group", "GPU", "--group", "cores>=8",
            "--limit", "karma", "--env", "OCIO=/share/aces.ocio", "--env", "EMPTY="]
    spec = cli_jobs._spec(build_parser().parse_args(argv))
    assert spec.groups == ("gpu", "cores>=8") and spec.limits == ("karma",)
    assert spec.env == (("EMPTY", ""), ("OCIO", "/share/aces.ocio"))
    registry = Registry()
    registry.add("render01", state=NodeState.TRUSTED)
    registry.record_inventory("render01", {"hostname": "r1", "os": "Linux", "cpus_logical": 16})
    code, _, err = run(capsys, *argv)
    assert code == 2 and "no trusted, enabled node is in group gpu; groups that exist: linux" in err
    assert Client(autostart=False).jobs() == []


def test_status_shows_what_holds_a_job_and_its_groups_limits_env() -> None:
    spec = JobSpec(preset="demo", frames="1-4", groups=("gpu",), limits=("karma",),
                   env=(("SHOT", "sh010 'x'"),))
    summary = JobSummary("7", "demo", "demo", JobState.QUEUED, 50, 0.0, 4, 0, 0, 0,
                         hold="waiting for limit karma (4 of 4 in use)")
    assert cli_jobs.job_line(summary).endswith("demo  (waiting for limit karma (4 of 4 in use))")
    text = render_status(JobSnapshot(summary, spec), width=120)
    lines = text.splitlines()
    assert lines[0].startswith("job 7 demo: queued (waiting for limit karma (4 of 4 in use))  0/4 done")
    assert "  groups: gpu  limits: karma  env: 'SHOT=sh010 '\"'\"'x'\"'\"''" in lines
