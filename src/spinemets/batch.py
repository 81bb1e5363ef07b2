"""Cohort runs on Dask distributed: one case per task, failures isolated, resumable.

``run_batch`` sends :func:`run_one_case` for every case that is not complete yet to a Dask
cluster (a ``LocalCluster`` of worker *processes* by default, or a running scheduler given by its
address). A case whose ``OUT/<case_id>/run.json`` says ``complete`` with the same options is
skipped, so re-running a batch resumes it. A case that fails (bad input, a failing step, even a
crashed worker) is recorded with its error and does not affect the others.

Outputs in ``OUT``: ``cohort.csv`` and ``cohort.parquet`` (one row per case and level),
``cases.csv`` (one row per case: status, error, time), ``batch.json`` and ``cohort_summary.html``.

Dask and pandas are optional dependencies (``pip install spinemets[cohort]``); they are imported
only here, lazily. Scripts that call :func:`run_batch` with a LocalCluster need an
``if __name__ == "__main__":`` guard (worker processes re-import the main module).
"""

from __future__ import annotations

import csv
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, TextIO

from . import DISCLAIMER, __version__
from .errors import InputError, MissingDependencyError

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd", ".zip")
CSV_COLUMNS = ("case_id", "path", "sex", "age", "weight_kg", "height_cm", "timepoint")


@dataclass
class CohortCase:
    """One case of a cohort. Units: ``age_years``, ``weight_kg``, ``height_cm``."""

    case_id: str
    path: str
    sex: str | None = None
    age_years: float | None = None
    weight_kg: float | None = None
    height_cm: float | None = None
    timepoint: str | None = None

    @property
    def run_id(self) -> str:
        """Output sub-folder name: case id, plus the time point when given."""
        return f"{self.case_id}_{self.timepoint}" if self.timepoint else self.case_id


@dataclass
class BatchSummary:
    out_dir: Path
    cases: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [c for c in self.cases if c["status"] == "failed"]

    @property
    def ran(self) -> list[str]:
        return [c["case_id"] for c in self.cases if c.get("ran")]

    @property
    def summary_html(self) -> Path:
        return self.out_dir / "cohort_summary.html"


# --- cohort input --------------------------------------------------------------------------------
def _is_case_entry(p: Path) -> bool:
    if p.name.startswith("."):
        return False
    return p.is_dir() or any(p.name.lower().endswith(s) for s in IMAGE_SUFFIXES)


def _case_id_of(p: Path) -> str:
    name = p.name
    for s in IMAGE_SUFFIXES:
        if name.lower().endswith(s):
            return name[: -len(s)]
    return name


def _float_or_none(v: str | None, what: str, row: int) -> float | None:
    if v is None or str(v).strip() == "":
        return None
    try:
        x = float(v)
    except ValueError:
        raise InputError(f"cohort CSV row {row}: {what} {v!r} is not a number") from None
    if not math.isfinite(x) or x <= 0:
        raise InputError(f"cohort CSV row {row}: {what} must be a positive number, got {v!r}")
    return x


def read_cohort(path: str | Path) -> list[CohortCase]:
    """Cases of a cohort folder (each entry a DICOM folder or an image file) or a cohort CSV."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"cohort not found: {path}")
    if path.is_dir():
        cases = [CohortCase(_case_id_of(p), str(p.resolve())) for p in sorted(path.iterdir())
                 if _is_case_entry(p)]
        if not cases:
            raise InputError(f"the cohort folder {path} holds no case (DICOM folder or image file)")
    else:
        cases = _read_csv(path)
    ids = [c.run_id for c in cases]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise InputError(f"duplicate case ids in the cohort: {', '.join(dupes)}")
    return cases


def _read_csv(path: Path) -> list[CohortCase]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        cols = [c.strip() for c in (reader.fieldnames or [])]
        if "case_id" not in cols or "path" not in cols:
            raise InputError(f"the cohort CSV {path} needs the columns case_id and path (has: {', '.join(cols)})")
        cases = []
        for i, raw in enumerate(reader, start=2):
            row = {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in raw.items() if k}
            if not row.get("case_id") or not row.get("path"):
                raise InputError(f"cohort CSV row {i}: case_id and path must not be empty")
            p = Path(row["path"])
            if not p.is_absolute():
                p = (path.parent / p).resolve()
            sex = (row.get("sex") or "").lower() or None
            sex = {"m": "male", "f": "female"}.get(sex, sex) if sex else None
            if sex not in (None, "male", "female"):
                raise InputError(f"cohort CSV row {i}: sex must be male/female (or M/F), got {row['sex']!r}")
            age = _float_or_none(row.get("age"), "age", i)
            cases.append(CohortCase(row["case_id"], str(p), sex, age,
                                    _float_or_none(row.get("weight_kg"), "weight_kg", i),
                                    _float_or_none(row.get("height_cm"), "height_cm", i),
                                    row.get("timepoint") or None))
    if not cases:
        raise InputError(f"the cohort CSV {path} has no rows")
    return cases


# --- one case (runs on a worker) -----------------------------------------------------------------
def case_options(case: CohortCase, options: dict[str, Any] | None = None, force: bool = False) -> Any:
    """RunOptions of one case: its demographics plus the cohort-wide ``options`` (backend, fe, ...)."""
    from .pipeline import RunOptions

    return RunOptions(sex=case.sex, age_years=case.age_years, weight_kg=case.weight_kg,
                      height_cm=case.height_cm, case_id=case.case_id, timepoint=case.timepoint,
                      force=force, **(options or {}))


def run_one_case(case: CohortCase, out_root: str, options: dict[str, Any] | None = None,
                 force: bool = False) -> dict[str, Any]:
    """Run one case; never raises: a failure is returned as ``status`` "failed" with its error."""
    from .pipeline import run_case

    t0 = time.perf_counter()
    out = Path(out_root) / case.run_id
    rec: dict[str, Any] = {"case_id": case.case_id, "timepoint": case.timepoint, "run_id": case.run_id,
                           "path": case.path, "ran": True}
    try:
        res = run_case(case.path, out, case_options(case, options, force), progress=None,
                       command=["spinemets", "batch"])
        rec["status"] = res.manifest["status"]
        rec["error"] = "; ".join(f"{n}: {res.steps[n].error}" for n in res.failed) or None
    except InputError as exc:
        rec["status"], rec["error"] = "failed", f"bad input: {exc}"
    except Exception as exc:  # noqa: BLE001 - isolate the case
        rec["status"], rec["error"] = "failed", f"{type(exc).__name__}: {exc}"
    rec["seconds"] = round(time.perf_counter() - t0, 2)
    return rec


def is_case_complete(case: CohortCase, out_root: Path, options: dict[str, Any] | None = None) -> bool:
    """True when the case's run.json says complete for the same options and spinemets version."""
    from .pipeline import options_hash, read_manifest

    m = read_manifest(out_root / case.run_id)
    if not m or not m.get("complete") or m.get("spinemets_version") != __version__:
        return False
    try:
        return m.get("options_sha256") == options_hash(case_options(case, options))
    except OSError:
        return False


# --- the cluster -------------------------------------------------------------------------------
def _client(workers: int, scheduler: str | None, threads_per_worker: int) -> tuple[Any, Any]:
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:
        raise MissingDependencyError(
            f"spinemets batch needs Dask distributed ({exc.name} is missing); "
            "install it with: pip install 'spinemets[cohort]'") from None
    if scheduler:
        try:
            return Client(scheduler, timeout="20s"), None
        except OSError as exc:
            raise InputError(f"cannot connect to the Dask scheduler at {scheduler}: {exc}") from None
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    if not logging.getLogger().isEnabledFor(logging.INFO):  # quiet unless `spinemets -v`
        logging.getLogger("distributed").setLevel(logging.WARNING)
    cluster = LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker, processes=True,
                           dashboard_address=":0", silence_logs=logging.WARNING)
    return Client(cluster), cluster


def run_batch(cases: Iterable[CohortCase], out_dir: Path, workers: int = 2, scheduler: str | None = None,
              threads_per_worker: int = 1, options: dict[str, Any] | None = None, force: bool = False,
              progress: TextIO | None = sys.stderr) -> BatchSummary:
    """Run the cases that are not complete yet on Dask; write the cohort tables and summary page.

    ``options``: RunOptions fields applied to every case (e.g. ``{"backend": "classic", "fe": False}``).
    """
    cases = list(cases)
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    todo = [c for c in cases if force or not is_case_complete(c, out_dir, options)]
    done_before = {c.run_id for c in cases} - {c.run_id for c in todo}
    if progress:
        print(f"batch: {len(cases)} cases, {len(done_before)} already complete, {len(todo)} to run",
              file=progress, flush=True)
    records: dict[str, dict[str, Any]] = {}
    if todo:
        client, cluster = _client(workers, scheduler, threads_per_worker)
        try:
            from dask.distributed import as_completed

            futures = {}
            for c in todo:
                fut = client.submit(run_one_case, c, str(out_dir), options, force, pure=False,
                                    key=f"spinemets-case-{c.run_id}-{time.time_ns()}", retries=0)
                futures[fut] = c
            for fut in as_completed(list(futures)):
                c = futures[fut]
                try:
                    rec = fut.result()
                except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker: isolate the case
                    rec = {"case_id": c.case_id, "timepoint": c.timepoint, "run_id": c.run_id,
                           "path": c.path, "ran": True, "status": "failed",
                           "error": f"worker error: {type(exc).__name__}: {exc}", "seconds": None}
                records[c.run_id] = rec
                if progress:
                    print(f"batch: {c.run_id}: {rec['status']}" + (f" ({rec['error']})" if rec.get("error") else ""),
                          file=progress, flush=True)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    for c in cases:
        if c.run_id not in records:
            records[c.run_id] = {"case_id": c.case_id, "timepoint": c.timepoint, "run_id": c.run_id,
                                 "path": c.path, "ran": False, "status": "complete_before", "error": None,
                                 "seconds": None}
    summary = BatchSummary(out_dir, [records[c.run_id] for c in cases])
    write_cohort_outputs(summary, cases, started, time.perf_counter() - t0, workers, scheduler)
    return summary


# --- cohort outputs ----------------------------------------------------------------------------
def cohort_rows(out_dir: Path, cases: list[CohortCase]) -> list[dict[str, Any]]:
    """One row per case and level from each case's results.json (cases without one: no rows)."""
    import json

    rows = []
    for c in cases:
        p = out_dir / c.run_id / "results.json"
        if not p.exists():
            continue
        res = json.loads(p.read_text())
        for lv, d in res.get("levels", {}).items():
            s = d.get("summary") or {}
            bone = d.get("bone") or {}
            rows.append({
                "case_id": c.case_id, "timepoint": c.timepoint, "level": lv,
                "sex": c.sex, "age_years": c.age_years, "weight_kg": c.weight_kg, "height_cm": c.height_cm,
                "label_status": d.get("label_status"),
                "trabecular_bmd_mg_cm3": s.get("trabecular_bmd_mg_cm3"),
                "integral_bmd_mg_cm3": bone.get("integral_bmd_mg_cm3") if isinstance(bone.get("integral_bmd_mg_cm3"), (int, float)) else None,
                "strength_N": s.get("strength_N"), "strength_method": s.get("strength_method"),
                "max_lsr": s.get("max_lsr"), "max_lsr_activity": s.get("max_lsr_activity"),
                "max_lsr_low": s.get("max_lsr_low"), "max_lsr_high": s.get("max_lsr_high"),
                "max_lsr_band": s.get("max_lsr_band"),
            })
    return rows


def write_cohort_outputs(summary: BatchSummary, cases: list[CohortCase], started: str, seconds: float,
                         workers: int, scheduler: str | None) -> None:
    from .io.atomic import atomic_path, write_json_atomic, write_text_atomic

    out = summary.out_dir
    rows = cohort_rows(out, cases)
    try:
        import pandas as pd
    except ImportError as exc:
        raise MissingDependencyError(f"the cohort table needs pandas ({exc.name} missing); "
                                     "pip install 'spinemets[cohort]'") from None
    cols = ["case_id", "timepoint", "level", "sex", "age_years", "weight_kg", "height_cm", "label_status",
            "trabecular_bmd_mg_cm3", "integral_bmd_mg_cm3", "strength_N", "strength_method", "max_lsr",
            "max_lsr_activity", "max_lsr_low", "max_lsr_high", "max_lsr_band"]
    df = pd.DataFrame(rows, columns=cols)
    for c in ("age_years", "weight_kg", "height_cm", "trabecular_bmd_mg_cm3", "integral_bmd_mg_cm3",
              "strength_N", "max_lsr", "max_lsr_low", "max_lsr_high"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    with atomic_path(out / "cohort.csv") as tmp:
        df.to_csv(tmp, index=False)
    with atomic_path(out / "cohort.parquet") as tmp:
        df.to_parquet(tmp, index=False)
    cases_df = pd.DataFrame([{k: v for k, v in r.items()} for r in summary.cases],
                            columns=["case_id", "timepoint", "run_id", "status", "error", "seconds", "ran", "path"])
    with atomic_path(out / "cases.csv") as tmp:
        cases_df.to_csv(tmp, index=False)
    write_json_atomic(out / "batch.json", {
        "spinemets_version": __version__, "disclaimer": DISCLAIMER, "started_utc": started,
        "total_seconds": round(seconds, 2), "workers": workers if not scheduler else None,
        "scheduler": scheduler, "n_cases": len(cases), "n_failed": len(summary.failed),
        "cases": summary.cases})
    write_text_atomic(out / "cohort_summary.html", render_cohort_html(summary, df))


def render_cohort_html(summary: BatchSummary, df: Any) -> str:
    import jinja2

    from .report.charts import _plt
    from .report.views import fig_to_base64

    chart = None
    if len(df) and df["max_lsr"].notna().any():
        plt = _plt()
        levels = [lv for lv in df["level"].unique() if df.loc[df["level"] == lv, "max_lsr"].notna().any()]
        data = [df.loc[(df["level"] == lv) & df["max_lsr"].notna(), "max_lsr"].to_numpy() for lv in levels]
        fig, ax = plt.subplots(figsize=(7, 3))
        ax.boxplot(data, tick_labels=levels)
        ax.axhline(1.0, color="#d62728", lw=1)
        ax.set_ylabel("max LSR over activities")
        ax.grid(alpha=0.3)
        chart = fig_to_base64(fig)
    env = jinja2.Environment(loader=jinja2.PackageLoader("spinemets.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]))
    per_case = {}
    for r in summary.cases:
        sub = df[df["case_id"] == r["case_id"]]
        if r.get("timepoint"):
            sub = sub[sub["timepoint"] == r["timepoint"]]
        lsr = sub["max_lsr"].max() if len(sub) else float("nan")
        per_case[r["run_id"]] = {"n_levels": int(sub["trabecular_bmd_mg_cm3"].notna().sum()) if len(sub) else 0,
                                 "max_lsr": None if lsr != lsr else float(lsr),
                                 "report": f"{r['run_id']}/report.html"
                                 if (summary.out_dir / r["run_id"] / "report.html").exists() else None}
    return env.get_template("cohort.html.j2").render(
        cases=summary.cases, per_case=per_case, failed=summary.failed, chart=chart,
        disclaimer=DISCLAIMER, version=__version__,
        generated=datetime.now(timezone.utc).isoformat(timespec="seconds"))


def cases_as_dicts(cases: Iterable[CohortCase]) -> list[dict[str, Any]]:
    return [asdict(c) for c in cases]
