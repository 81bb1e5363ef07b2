"""Pipeline: per-step caching and invalidation, failure isolation, run manifest, CLI verbs."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from spinemets import DISCLAIMER, pipeline
from spinemets.io.atomic import write_json_atomic
from spinemets.pipeline import RunOptions, Step, run_case
from spinemets.report import validate_results


# --- the caching engine on toy steps (exact expectations) -----------------------------------------
def _toy_steps(calls: list[str], fail: set[str] = frozenset()) -> tuple[Step, ...]:
    def make(name: str, keys: tuple[str, ...]):
        def run(ctx):
            calls.append(name)
            if name in fail:
                raise RuntimeError(f"{name} exploded")
            up = {d: json.loads((ctx.out_dir / f"{d}.json").read_text()) for d in ("a", "b") if
                  (ctx.out_dir / f"{d}.json").exists() and d != name}
            write_json_atomic(ctx.out_dir / f"{name}.json",
                              {"opts": {k: getattr(ctx.options, k) for k in keys}, "up": up})
        return run

    return (Step("a", (), (), ("series_uid",), make("a", ("series_uid",))),
            Step("b", ("a",), (), ("backend",), make("b", ("backend",))),
            Step("c", ("a",), (), ("weight_kg",), make("c", ("weight_kg",))),
            Step("d", ("b", "c"), (), (), make("d", ())))


@pytest.fixture
def toy_input(tmp_path) -> Path:
    p = tmp_path / "ct.nii.gz"
    p.write_bytes(b"not really a CT, the toy steps do not read it")
    return p


def test_changed_code_reruns_every_step(monkeypatch, tmp_path, toy_input):
    """The package's source hash is part of every stamp: the same input and options under changed
    code (an editable install being developed, a patched release with the same version) rerun."""
    calls: list[str] = []
    monkeypatch.setattr(pipeline, "STEPS", _toy_steps(calls))
    out = tmp_path / "out"
    run_case(toy_input, out, RunOptions(weight_kg=70), progress=None)
    assert len(pipeline.code_sha256()) == 64
    calls.clear()
    monkeypatch.setattr(pipeline, "_CODE_SHA256", "0" * 64)
    r2 = run_case(toy_input, out, RunOptions(weight_kg=70), progress=None)
    assert calls == ["a", "b", "c", "d"] and all(s.status == "ok" for s in r2.steps.values())


def test_cache_skips_unchanged_and_reruns_dependents_only(monkeypatch, tmp_path, toy_input):
    calls: list[str] = []
    monkeypatch.setattr(pipeline, "STEPS", _toy_steps(calls))
    out = tmp_path / "out"
    r1 = run_case(toy_input, out, RunOptions(weight_kg=70), progress=None)
    assert calls == ["a", "b", "c", "d"] and r1.exit_code == 0
    calls.clear()
    r2 = run_case(toy_input, out, RunOptions(weight_kg=70), progress=None)
    assert calls == [] and all(s.status == "cached" for s in r2.steps.values())
    # an option read only by c: c re-runs, d re-runs (its input changed), a and b stay cached
    calls.clear()
    r3 = run_case(toy_input, out, RunOptions(weight_kg=80), progress=None)
    assert calls == ["c", "d"]
    assert [r3.steps[n].status for n in "abcd"] == ["cached", "cached", "ok", "ok"]
    # a changed input file re-runs everything
    calls.clear()
    toy_input.write_bytes(b"another scan")
    run_case(toy_input, out, RunOptions(weight_kg=80), progress=None)
    assert calls == ["a", "b", "c", "d"]
    # a deleted or edited output is detected
    calls.clear()
    (out / "b.json").write_text("{}")
    run_case(toy_input, out, RunOptions(weight_kg=80), progress=None)
    assert calls[0] == "b" and "a" not in calls
    # --force re-runs all
    calls.clear()
    run_case(toy_input, out, RunOptions(weight_kg=80, force=True), progress=None)
    assert calls == ["a", "b", "c", "d"]


def test_failed_step_is_recorded_and_dependents_skipped(monkeypatch, tmp_path, toy_input):
    calls: list[str] = []
    monkeypatch.setattr(pipeline, "STEPS", _toy_steps(calls, fail={"b"}))
    out = tmp_path / "out"
    res = run_case(toy_input, out, RunOptions(), progress=None)
    assert res.exit_code == 1 and res.failed == ["b"]
    st = {n: s.status for n, s in res.steps.items()}
    assert st == {"a": "ok", "b": "failed", "c": "ok", "d": "skipped"}
    assert "b exploded" in res.steps["b"].error and "needs b" in res.steps["d"].reason
    m = json.loads((out / "run.json").read_text())
    assert m["status"] == "failed" and m["complete"] is False and m["failed_steps"] == ["b"]
    assert (out / ".cache" / "b.traceback.txt").exists()
    # fixed: only b and d run, a and c are cached
    calls.clear()
    monkeypatch.setattr(pipeline, "STEPS", _toy_steps(calls))
    res = run_case(toy_input, out, RunOptions(), progress=None)
    assert calls == ["b", "d"] and res.exit_code == 0


def test_manifest_contents(monkeypatch, tmp_path, toy_input):
    monkeypatch.setattr(pipeline, "STEPS", _toy_steps([]))
    out = tmp_path / "out"
    run_case(toy_input, out, RunOptions(sex="female", weight_kg=60), progress=None, command=["x"])
    m = json.loads((out / "run.json").read_text())
    assert m["disclaimer"] == DISCLAIMER and m["spinemets_version"]
    assert m["python"].count(".") == 2 and m["libraries"]["numpy"]
    assert m["input"]["sha256"] == pipeline.sha256_file(toy_input) and m["input"]["kind"] == "file"
    assert m["options"]["sex"] == "female" and m["options"]["weight_kg"] == 60
    assert set(m["steps"]) == {"a", "b", "c", "d"}
    assert all(isinstance(s["seconds"], float) for s in m["steps"].values())
    assert set(m["outputs"]) == {"a.json", "b.json", "c.json", "d.json"}


def test_missing_stage_is_not_available_with_reason(monkeypatch, tmp_path, toy_input):
    def absent(ctx):
        pipeline.stage_function("spinemets.no_such_stage", "compute")

    steps = _toy_steps([])
    monkeypatch.setattr(pipeline, "STEPS", (steps[0], replace(steps[1], run=absent), steps[2], steps[3]))
    res = run_case(toy_input, tmp_path / "out", RunOptions(), progress=None)
    assert res.steps["b"].status == "not_available" and "no_such_stage" in res.steps["b"].reason
    assert res.steps["d"].status == "skipped" and res.exit_code == 0


# --- the real pipeline -----------------------------------------------------------------------------
def _small_ct(request, tmp_path_factory) -> Path:
    """A small phantom study's CT when the phantom fixtures exist, else the real 3 mm example CT."""
    try:
        study = request.getfixturevalue("phantom_study_dir")
        from spinemets.pipeline_cli import _find_study_ct
        return _find_study_ct(Path(study))
    except pytest.FixtureLookupError:
        p = Path(__file__).resolve().parents[2] / "shared" / "data" / "totalseg_example" / "example_ct.nii.gz"
        if not p.exists():
            pytest.skip("neither phantom fixtures nor the shared example CT are available")
        return p


@pytest.mark.slow
def test_run_end_to_end_with_cache(request, tmp_path_factory, tmp_path):
    ct = _small_ct(request, tmp_path_factory)
    out = tmp_path / "case"
    opts = RunOptions(sex="male", weight_kg=70.0, height_cm=175.0, age_years=60.0, case_id="c1", fe=False)
    r1 = run_case(ct, out, opts, progress=None)
    assert r1.steps["read"].status == "ok" and r1.steps["report"].status == "ok", r1.manifest["steps"]
    assert r1.exit_code == 0, r1.manifest["steps"]
    for name, s in r1.steps.items():  # nothing silently missing: a reason for every non-run step
        assert s.status in ("ok", "not_available", "skipped"), (name, s)
        if s.status != "ok":
            assert s.reason
    res = json.loads((out / "results.json").read_text())
    validate_results(res)
    assert res["subject"]["weight_kg"] == 70.0 and res["case"]["case_id"] == "c1"
    html = (out / "report.html").read_text()
    for n, s in r1.steps.items():
        if s.status == "not_available":
            assert res["steps"][n]["status"] == "not_available" and "not_available" in html
    ran = [n for n, s in r1.steps.items() if s.status == "ok"]
    # second run: every step that ran is cached
    r2 = run_case(ct, out, opts, progress=None)
    assert [n for n, s in r2.steps.items() if s.status == "cached"] == ran
    assert not [n for n, s in r2.steps.items() if s.status == "ok"]
    # changing the body mass re-runs loads, risk (when available) and report only
    r3 = run_case(ct, out, replace(opts, weight_kg=85.0), progress=None)
    rerun = {n for n, s in r3.steps.items() if s.status == "ok"}
    assert rerun == {n for n in ("loads", "risk", "report") if n in ran}
    assert json.loads((out / "results.json").read_text())["subject"]["weight_kg"] == 85.0


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spinemets.cli", *args], capture_output=True, text=True,
                          timeout=300)


def test_cli_run_bad_input_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"\x1f\x8b garbage")
    out = tmp_path / "out"
    p = _cli("run", str(bad), "-o", str(out), "-q")
    assert p.returncode == 2, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert lines[-1].startswith("spinemets: error:") and "Traceback" not in p.stderr
    m = json.loads((out / "run.json").read_text())
    assert m["steps"]["read"]["status"] == "failed" and m["steps"]["read"]["error_type"] == "InputError"
    assert m["steps"]["vertebrae"]["status"] == "skipped"


def test_cli_run_missing_input_and_bad_option(tmp_path):
    p = _cli("run", str(tmp_path / "nope.nii.gz"), "-o", str(tmp_path / "o"))
    assert p.returncode == 2 and "input not found" in p.stderr
    p = _cli("run", str(tmp_path), "-o", str(tmp_path / "o"), "--weight-kg", "-3")
    assert p.returncode == 2 and "--weight-kg must be positive" in p.stderr


def test_cli_help_lists_verbs():
    p = _cli("--help")
    assert p.returncode == 0
    for verb in ("run", "demo", "batch"):
        assert verb in p.stdout
    for verb in ("run", "demo", "batch"):
        assert _cli(verb, "--help").returncode == 0
