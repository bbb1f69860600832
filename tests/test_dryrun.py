"""`renga plan`: the nodes a run would run or reuse, and how long the rest should take."""

from __future__ import annotations

import json

import pytest
from conftest import Cli, ok, tiny_job

FAST = ("preset=draft", "video.frames=17")


def _plan(cli: Cli, *args: str, job: dict) -> dict:
    result = ok(cli("--json", *FAST, *args, job=job, command="plan"))
    assert not result.run_dir.exists(), "a plan must write nothing"
    return json.loads(result.stdout)


def _statuses(nodes: list[dict]) -> dict[str, tuple[str, str]]:
    return {n["id"]: (n["key"], n["status"].replace("to run", "ran")) for n in nodes}


@pytest.mark.slow
def test_plan_agrees_with_what_the_run_then_does(cli: Cli):
    job = tiny_job()
    job["shots"][0]["seconds"] = 1.5
    plan = _plan(cli, job=job)
    assert {n["status"] for n in plan["nodes"]} == {"to run"}
    assert plan["history"] == 0 and plan["unestimated"] == len(plan["nodes"])
    assert [(s["frames"], s["seconds"]) for s in plan["shots"]] == [(24, 1.5), (16, 1.0)]
    run = cli.run_json(ok(cli(*FAST, job=job)))
    assert _statuses(plan["nodes"]) == _statuses(run["nodes"])

    job["shots"][1]["prompt"] = "a lighthouse in a storm"
    plan = _plan(cli, job=job)
    run = cli.run_json(ok(cli(*FAST, job=job)))
    assert _statuses(plan["nodes"]) == _statuses(run["nodes"])
    pending = [n for n in plan["nodes"] if n["status"] == "to run"]
    assert {n["id"] for n in pending} == {"keyframe/1", "segment/1.0", "assemble", "mux"}
    # Every stage to run has timings from the first run: each node gets an estimate.
    assert plan["unestimated"] == 0 and plan["history"] >= len(run["nodes"])
    assert all(n["estimate"] > 0 for n in pending)
    assert abs(plan["estimate"] - sum(n["estimate"] for n in pending)) < 0.01
    segment = next(n for n in run["nodes"] if n["id"] == "segment/1.0")
    estimate = next(n for n in pending if n["id"] == "segment/1.0")["estimate"]
    assert estimate < 20 * segment["seconds"] + 1  # the same work as before, give or take

    plan = _plan(cli, job=job)
    assert {n["status"] for n in plan["nodes"]} == {"cached"} and plan["estimate"] == 0


def test_plan_prints_a_readable_table(cli: Cli):
    result = ok(cli(*FAST, job=tiny_job(), command="plan"))
    text = result.stdout
    assert text.startswith("plan: tiny (video, 64x48, 32 frames @ 16 fps = 2.00 s)")
    assert "segment/1.0" in text and "to run" in text
    assert "a red kite over a field" in text
    assert "no timing in the store yet" in text


def test_plan_reports_bad_input_in_one_line(cli: Cli):
    result = cli(*FAST, "job.width=70", job=tiny_job(), command="plan")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: job.width:")
    assert len(result.stderr.strip().splitlines()) == 1
