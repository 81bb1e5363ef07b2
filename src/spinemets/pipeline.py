"""One case from CT to fracture-risk report: steps, caching, resume and the run manifest.

Steps (in order): ``read`` -> ``vertebrae`` -> ``muscles`` -> ``bone`` -> ``loads`` -> ``risk`` ->
``report``. Each step calls one stage through its public function (docs/ARCHITECTURE.md) and writes
its files into the output folder ``OUT``.

Caching: a step's *stamp* is the SHA-256 of its name, the spinemets version, the options it reads
and the content hashes of what it consumes (the input CT files for ``read``; the upstream steps'
output files otherwise). A step is skipped when its stamp equals the one in ``OUT/run.json`` and
its recorded output files are still there with the recorded hashes. Changing an option therefore
re-runs only the steps that read it and those downstream whose inputs actually changed.

Statuses per step: ``ok`` (ran), ``cached`` (skipped, unchanged), ``failed`` (error recorded),
``skipped`` (an upstream step it needs did not produce output; reason recorded) and
``not_available`` (the stage is not part of this installation; reason recorded, never faked).

``OUT/run.json`` is the manifest: versions, options, input hashes, time per step, warnings and
output files with their hashes.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import inspect
import json
import logging
import os
import platform
import sys
import time
import traceback
import warnings as pywarnings
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, TextIO

from . import DISCLAIMER, __version__
from .errors import InputError
from .io.atomic import write_json_atomic

log = logging.getLogger(__name__)

RUN_MANIFEST = "run.json"
MANIFEST_VERSION = "1.0"
#: Libraries whose versions go into the manifest (when installed).
KEY_LIBRARIES = ("numpy", "scipy", "SimpleITK", "pydicom", "highdicom", "nibabel", "scikit-image",
                 "matplotlib", "jinja2", "jsonschema", "pyamg", "torch", "nnunetv2", "opensim",
                 "dask", "distributed", "pandas", "pyarrow")
STEP_NAMES = ("read", "vertebrae", "muscles", "bone", "loads", "risk", "report")
#: Step statuses that mean "its outputs exist and are current".
DONE = ("ok", "cached")


@dataclass
class RunOptions:
    """Everything that can change a case's results (all of it is hashed into the step stamps).

    Units: ``age_years``, ``weight_kg``, ``height_cm``. ``sex`` is "male"/"female"/None.
    """

    sex: str | None = None
    age_years: float | None = None
    weight_kg: float | None = None
    height_cm: float | None = None
    activities_file: str | None = None
    backend: str = "classic"
    model_dir: str | None = None
    muscles_backend: str = "classic"
    muscles_model_dir: str | None = None
    series_uid: str | None = None
    fe: bool = True
    fe_element_mm: float | None = None
    lsr_samples: int = 500
    case_id: str | None = None
    timepoint: str | None = None
    force: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StepRecord:
    """What happened to one step in this run (a ``run.json`` ``steps`` entry)."""

    name: str
    status: str = "pending"
    stamp: str | None = None
    seconds: float = 0.0
    reason: str | None = None
    error: str | None = None
    error_type: str | None = None
    warnings: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)  # relative path -> sha256
    #: the process's peak resident memory (MB) when the step ended (a running maximum)
    peak_rss_mb: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CaseResult:
    """The outcome of :func:`run_case`."""

    out_dir: Path
    steps: dict[str, StepRecord]
    manifest: dict[str, Any]

    @property
    def failed(self) -> list[str]:
        return [n for n, s in self.steps.items() if s.status == "failed"]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    @property
    def report_html(self) -> Path:
        return self.out_dir / "report.html"


class StageNotAvailable(Exception):
    """The stage a step needs is not part of this installation."""


class StepSkipped(Exception):
    """A step cannot run because something it needs is missing (reason in the message)."""


# --- hashing --------------------------------------------------------------------------------
def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def hash_input(path: Path) -> dict[str, Any]:
    """Content hash of the input CT: one file, or every non-hidden file of a folder (sorted)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"input not found: {path}")
    if path.is_file():
        return {"kind": "file", "sha256": sha256_file(path), "n_files": 1,
                "size_bytes": path.stat().st_size}
    h = hashlib.sha256()
    n, size = 0, 0
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = f.relative_to(path)
        if any(part.startswith(".") for part in rel.parts):
            continue
        h.update(str(rel).encode() + b"\0" + sha256_file(f).encode())
        n += 1
        size += f.stat().st_size
    if n == 0:
        raise InputError(f"input folder is empty: {path}")
    return {"kind": "folder", "sha256": h.hexdigest(), "n_files": n, "size_bytes": size}


def _stamp(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


_CODE_SHA256: str | None = None


def code_sha256() -> str:
    """SHA-256 over the package's own Python sources (relative path + content, sorted), computed once
    per process. Part of every step's stamp, so a cached step is rerun when the code changed, not only
    when ``__version__`` did (an editable install, a patched release)."""
    global _CODE_SHA256
    if _CODE_SHA256 is None:
        root = Path(__file__).resolve().parent
        h = hashlib.sha256()
        for f in sorted(root.rglob("*.py")):
            h.update(f.relative_to(root).as_posix().encode())
            h.update(f.read_bytes())
        _CODE_SHA256 = h.hexdigest()
    return _CODE_SHA256


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in KEY_LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


# --- stage access ---------------------------------------------------------------------------
def stage_function(module: str, name: str) -> Callable[..., Any]:
    """The public function ``module.name``; :class:`StageNotAvailable` when the stage is absent."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise StageNotAvailable(f"{module} cannot be imported ({exc}); stage not built") from None
    fn = getattr(mod, name, None)
    if fn is None:
        raise StageNotAvailable(f"{module}.{name} is not available in this installation (stage not built yet)")
    return fn


# --- the per-case context -------------------------------------------------------------------
class CaseContext:
    """Inputs, options and lazily loaded upstream results of one case.

    Objects a step produced in this run are kept in memory; on a cache hit they are read back
    from the step's files only when a later step needs them.
    """

    def __init__(self, input_path: Path, out_dir: Path, options: RunOptions):
        self.input_path = Path(input_path)
        self.out_dir = Path(out_dir)
        self.options = options
        self.memory: dict[str, Any] = {}
        self.records: dict[str, StepRecord] = {}

    # CT --------------------------------------------------------------------------------
    @property
    def ct(self) -> Any:
        if "ct" not in self.memory:
            read_ct = stage_function("spinemets.io", "read_ct")
            self.memory["ct"] = read_ct(self.input_path, series_uid=self.options.series_uid)
        return self.memory["ct"]

    @property
    def is_dicom(self) -> bool:
        info = self.json("ct.json")
        return bool(info and info.get("input_format") in ("dicom", "zip"))

    def json(self, name: str) -> dict[str, Any] | None:
        key = f"json:{name}"
        if key not in self.memory:
            p = self.out_dir / name
            self.memory[key] = json.loads(p.read_text()) if p.exists() else None
        return self.memory[key]

    def label_map(self, name: str) -> Any:
        key = f"labels:{name}"
        if key not in self.memory:
            from .io import read_label_map

            p = self.out_dir / name
            if not p.exists():
                raise StepSkipped(f"{name} is missing")
            self.memory[key] = read_label_map(p)
        return self.memory[key]

    def done(self, step: str) -> bool:
        rec = self.records.get(step)
        return rec is not None and rec.status in DONE


# --- the steps ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """One pipeline step: what it needs, which options it reads, and the function doing it."""

    name: str
    needs: tuple[str, ...]  # upstream steps that must be done
    uses: tuple[str, ...]  # upstream steps whose outputs it reads when present (hashed too)
    options: tuple[str, ...]  # RunOptions fields it reads
    run: Callable[[CaseContext], None]
    description: str = ""


def _step_read(ctx: CaseContext) -> None:
    import numpy as np

    ct = ctx.ct
    arr = ct.array
    md = dict(ct.metadata)
    info = {
        "spinemets_version": __version__,
        "disclaimer": DISCLAIMER,
        "geometry": ct.geometry.to_dict(),
        "input_format": md.get("input_format"),
        "modality": md.get("modality"),
        "series_instance_uid": md.get("series_instance_uid"),
        "study_instance_uid": md.get("study_instance_uid"),
        "n_source_files": len(md.get("source_files") or []),
        "hu_min": float(np.min(arr)), "hu_max": float(np.max(arr)),
        "warnings": [str(w) for w in (md.get("warnings") or [])],
    }
    write_json_atomic(ctx.out_dir / "ct.json", info)
    ctx.memory["json:ct.json"] = info


def _step_vertebrae(ctx: CaseContext) -> None:
    segment = stage_function("spinemets.segment", "segment_vertebrae")
    write = stage_function("spinemets.segment", "write_vertebrae_outputs")
    o = ctx.options
    result = segment(ctx.ct, backend=o.backend, model_dir=o.model_dir)
    write(result, ctx.ct, ctx.out_dir)
    ctx.memory["labels:vertebrae.nii.gz"] = result.vertebrae
    ctx.memory["labels:vertebral_bodies.nii.gz"] = result.bodies
    ctx.memory["json:vertebrae.json"] = result.summary
    if not (ctx.out_dir / "vertebrae.json").exists():
        write_json_atomic(ctx.out_dir / "vertebrae.json", result.summary)


def _step_muscles(ctx: CaseContext) -> None:
    segment = stage_function("spinemets.muscles", "segment_muscles")
    o = ctx.options
    vertebrae = ctx.label_map("vertebrae.nii.gz")
    kwargs: dict[str, Any] = {"backend": o.muscles_backend, "model_dir": o.muscles_model_dir}
    if "vertebrae_summary" in inspect.signature(segment).parameters:
        kwargs["vertebrae_summary"] = ctx.json("vertebrae.json")
    result = segment(ctx.ct, vertebrae, **kwargs)
    write = None
    for name in ("write_muscle_outputs", "write_muscles_outputs"):
        try:
            write = stage_function("spinemets.muscles", name)
            break
        except StageNotAvailable:
            continue
    if write is not None:
        write(result, ctx.ct, ctx.out_dir)
    else:
        from .io import write_label_map

        write_label_map(result.labels, ctx.out_dir / "muscles.nii.gz")
        write_json_atomic(ctx.out_dir / "muscles.json", result.summary)
        if ctx.is_dicom:
            _write_seg(ctx, result.labels, "muscles_seg.dcm", "spinemets trunk muscles")
    ctx.memory["labels:muscles.nii.gz"] = result.labels
    ctx.memory["json:muscles.json"] = result.summary


def _write_seg(ctx: CaseContext, labels: Any, name: str, description: str) -> None:
    write_seg = stage_function("spinemets.io", "write_seg")
    src = ctx.ct.metadata.get("source_files") or []
    if not src:
        raise StepSkipped("input was DICOM but the reader returned no source files for the SEG")
    try:
        write_seg(labels, src, ctx.out_dir / name, series_description=description)
    except TypeError:
        write_seg(labels, src, ctx.out_dir / name)


def _step_bone(ctx: CaseContext) -> None:
    assess = stage_function("spinemets.qct", "assess_bone")
    o = ctx.options
    params = inspect.signature(assess).parameters
    kwargs: dict[str, Any] = {}
    if "fe" in params:
        kwargs["fe"] = o.fe
    elif not o.fe:
        raise StepSkipped("this assess_bone has no option to leave out voxel FE")
    if o.fe_element_mm is not None and "fe_element_mm" in params:
        kwargs["fe_element_mm"] = o.fe_element_mm
    bone = assess(ctx.ct, ctx.label_map("vertebrae.nii.gz"), ctx.label_map("vertebral_bodies.nii.gz"),
                  **kwargs)
    write_json_atomic(ctx.out_dir / "bone.json", bone)
    ctx.memory["json:bone.json"] = bone


def _step_loads(ctx: CaseContext) -> None:
    SubjectModel = stage_function("spinemets.mechanics", "SubjectModel")
    compute_loads = stage_function("spinemets.mechanics", "compute_loads")
    o = ctx.options
    sex = o.sex
    if sex is None:
        sex = DEFAULT_SEX
        pywarnings.warn(f"sex not given: the load model used the {DEFAULT_SEX} segment-mass fractions "
                        "(give --sex male|female)", UserWarning, stacklevel=1)
    vert, mus = ctx.json("vertebrae.json"), ctx.json("muscles.json")
    kwargs: dict[str, Any] = {"sex": sex, "weight_kg": o.weight_kg, "height_cm": o.height_cm}
    if "age" in inspect.signature(SubjectModel.from_ct_outputs).parameters:
        kwargs["age"] = o.age_years
    subject = SubjectModel.from_ct_outputs(vert, mus, **kwargs)
    activities = None
    if o.activities_file:
        activities = stage_function("spinemets.mechanics", "load_activities")(o.activities_file)
    loads = compute_loads(subject, activities)
    write_json_atomic(ctx.out_dir / "loads.json", loads)
    ctx.memory["json:loads.json"] = loads


def _step_risk(ctx: CaseContext) -> None:
    compute_risk = stage_function("spinemets.mechanics", "compute_risk")
    kwargs: dict[str, Any] = {}
    if "monte_carlo" in inspect.signature(compute_risk).parameters:
        kwargs["monte_carlo"] = ctx.options.lsr_samples
    risk = compute_risk(ctx.json("loads.json"), ctx.json("bone.json"), **kwargs)
    write_json_atomic(ctx.out_dir / "risk.json", risk)
    ctx.memory["json:risk.json"] = risk


def _step_report(ctx: CaseContext) -> None:
    from .report import write_case_report

    write_case_report(ctx)


SUBJECT_OPTIONS = ("sex", "age_years", "weight_kg", "height_cm", "activities_file")
#: Sex assumed by the load model when none is given (stated as a warning in the outputs).
DEFAULT_SEX = "male"
STEPS: tuple[Step, ...] = (
    Step("read", (), (), ("series_uid",), _step_read, "read the CT"),
    Step("vertebrae", ("read",), (), ("series_uid", "backend", "model_dir"), _step_vertebrae,
         "segment and label vertebrae T1-L5"),
    Step("muscles", ("read", "vertebrae"), (), ("series_uid", "muscles_backend", "muscles_model_dir"),
         _step_muscles, "segment trunk muscles per level"),
    Step("bone", ("read", "vertebrae"), (), ("series_uid", "fe", "fe_element_mm"), _step_bone,
         "QCT calibration, vBMD, shape, strength"),
    Step("loads", ("vertebrae", "muscles"), (), SUBJECT_OPTIONS, _step_loads,
         "spinal loads for daily activities"),
    Step("risk", ("loads", "bone"), (), ("lsr_samples",), _step_risk,
         "load-to-strength ratio with Monte Carlo uncertainty"),
    Step("report", ("read",), ("vertebrae", "muscles", "bone", "loads", "risk"),
         ("series_uid", "sex", "age_years", "weight_kg", "height_cm", "case_id", "timepoint"),
         _step_report, "results.json, report.html, DICOM SR"),
)
STEP_BY_NAME = {s.name: s for s in STEPS}


# --- progress ---------------------------------------------------------------------------------
class Progress:
    """Plain progress lines on a stream (stderr by default); silent when ``stream`` is None."""

    def __init__(self, stream: TextIO | None, total: int, label: str = ""):
        self.stream, self.total, self.label = stream, total, label

    def start(self, i: int, step: Step) -> None:
        if self.stream:
            print(f"{self.label}[{i}/{self.total}] {step.name}: {step.description} ...",
                  file=self.stream, flush=True)

    def end(self, i: int, rec: StepRecord) -> None:
        if not self.stream:
            return
        extra = f" ({rec.seconds:.1f} s)" if rec.status == "ok" else ""
        why = f": {rec.reason or rec.error}" if rec.status not in DONE else ""
        print(f"{self.label}[{i}/{self.total}] {rec.name}: {rec.status}{extra}{why}",
              file=self.stream, flush=True)


# --- running ----------------------------------------------------------------------------------
def _snapshot(out_dir: Path) -> dict[str, int]:
    snap = {}
    for p in out_dir.rglob("*"):
        rel = p.relative_to(out_dir)
        if p.is_file() and not any(part.startswith(".") for part in rel.parts) and \
                rel.name != RUN_MANIFEST:
            snap[str(rel)] = p.stat().st_mtime_ns
    return snap


def _outputs_intact(out_dir: Path, outputs: dict[str, str]) -> bool:
    if not outputs:
        return False
    for rel, digest in outputs.items():
        p = out_dir / rel
        if not p.is_file() or sha256_file(p) != digest:
            return False
    return True


def read_manifest(out_dir: Path) -> dict[str, Any] | None:
    p = Path(out_dir) / RUN_MANIFEST
    if not p.exists():
        return None
    try:
        return json.loads(p.read_text())
    except (json.JSONDecodeError, OSError):
        return None


def options_hash(options: RunOptions) -> str:
    d = options.to_dict()
    d.pop("force", None)
    if d.get("activities_file"):
        d["activities_sha256"] = sha256_file(Path(d["activities_file"]))
    return _stamp(d)


def run_case(input_path: str | os.PathLike[str], out_dir: str | os.PathLike[str],
             options: RunOptions | None = None, progress: TextIO | None = sys.stderr,
             command: list[str] | None = None) -> CaseResult:
    """Run every step for one CT into ``out_dir``; returns the records and writes ``run.json``.

    Bad input (unreadable, not CT) raises :class:`InputError` after ``run.json`` recorded it.
    Other step errors are recorded, dependent steps are skipped, and the run continues.
    """
    options = options or RunOptions()
    input_path = Path(input_path).resolve()
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")

    input_info = hash_input(input_path)
    activities_sha = sha256_file(Path(options.activities_file)) if options.activities_file else None
    if options.activities_file and not Path(options.activities_file).is_file():
        raise InputError(f"activities file not found: {options.activities_file}")
    previous = read_manifest(out_dir) or {}
    prev_steps = previous.get("steps", {}) if previous.get("manifest_version") == MANIFEST_VERSION else {}

    ctx = CaseContext(input_path, out_dir, options)
    ctx.memory["input_info"] = input_info
    prog = Progress(progress, len(STEPS), label=f"{options.case_id}: " if options.case_id else "")
    input_error: InputError | None = None

    for i, step in enumerate(STEPS, start=1):
        rec = StepRecord(step.name)
        ctx.records[step.name] = rec
        prog.start(i, step)
        missing = [d for d in step.needs if not ctx.done(d)]
        if missing:
            rec.status = "skipped"
            why = "; ".join(f"{d} {ctx.records[d].status}" for d in missing)
            rec.reason = f"needs {', '.join(missing)} ({why})"
            prog.end(i, rec)
            continue
        opt_values = {k: getattr(options, k) for k in step.options}
        if "activities_file" in step.options:
            opt_values["activities_file"] = activities_sha
        upstream = {d: ctx.records[d].outputs for d in step.needs + step.uses if ctx.done(d)}
        payload = {"step": step.name, "spinemets_version": __version__, "code_sha256": code_sha256(),
                   "options": opt_values,
                   "upstream": upstream, "upstream_status": {d: "done" if ctx.done(d) else ctx.records[d].status
                                       for d in step.uses}}
        # every step may read the CT (lazily), so the input's content hash is part of every stamp
        payload["input_sha256"] = input_info["sha256"]
        rec.stamp = _stamp(payload)
        prev = prev_steps.get(step.name, {})
        if (not options.force and prev.get("status") in DONE and prev.get("stamp") == rec.stamp
                and _outputs_intact(out_dir, prev.get("outputs", {}))):
            rec.status = "cached"
            rec.outputs = dict(prev["outputs"])
            rec.warnings = list(prev.get("warnings", []))
            prog.end(i, rec)
            continue
        before = _snapshot(out_dir)
        t0 = time.perf_counter()
        try:
            with pywarnings.catch_warnings(record=True) as caught:
                pywarnings.simplefilter("always")
                step.run(ctx)
            rec.warnings = _unique((str(w.message) if w.category is UserWarning
                                    else f"{w.category.__name__}: {w.message}") for w in caught
                                   if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning)))
            after = _snapshot(out_dir)
            changed = sorted(k for k, v in after.items() if before.get(k) != v)
            rec.outputs = {k: sha256_file(out_dir / k) for k in changed}
            rec.status = "ok"
        except StageNotAvailable as exc:
            rec.status, rec.reason = "not_available", str(exc)
        except StepSkipped as exc:
            rec.status, rec.reason = "skipped", str(exc)
        except InputError as exc:
            rec.status, rec.error, rec.error_type = "failed", str(exc), "InputError"
            if step.name == "read":
                input_error = exc
        except Exception as exc:  # noqa: BLE001 - a failing step is recorded, not fatal
            rec.status, rec.error_type = "failed", type(exc).__name__
            rec.error = f"{type(exc).__name__}: {exc}"
            log.debug("step %s failed:\n%s", step.name, traceback.format_exc())
            (out_dir / ".cache").mkdir(exist_ok=True)
            (out_dir / ".cache" / f"{step.name}.traceback.txt").write_text(traceback.format_exc())
        rec.seconds = round(time.perf_counter() - t0, 3)
        rec.peak_rss_mb = _peak_rss_mb()
        if rec.status == "ok" and not rec.outputs:
            rec.status, rec.error = "failed", "the step wrote no output files"
        prog.end(i, rec)
        # checkpoint: a run that is killed later still keeps the steps finished so far
        write_json_atomic(out_dir / RUN_MANIFEST, _manifest(ctx, input_info, started, time.perf_counter() - t_start,
                                                            command, running=True))

    manifest = _manifest(ctx, input_info, started, time.perf_counter() - t_start, command)
    write_json_atomic(out_dir / RUN_MANIFEST, manifest)
    if input_error is not None:
        raise input_error
    return CaseResult(out_dir, ctx.records, manifest)


def _peak_rss_mb() -> float | None:
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kb / (1024.0 * 1024.0) if sys.platform == "darwin" else kb / 1024.0, 1)


def _unique(items: Any) -> list[str]:
    seen: list[str] = []
    for it in items:
        if it not in seen:
            seen.append(it)
    return seen


def _manifest(ctx: CaseContext, input_info: dict[str, Any], started: str, total_s: float,
              command: list[str] | None, running: bool = False) -> dict[str, Any]:
    recs = ctx.records
    failed = [n for n, r in recs.items() if r.status == "failed"]
    blocked = [n for n, r in recs.items() if r.status == "skipped"]
    unavailable = [n for n, r in recs.items() if r.status == "not_available"]
    status = "failed" if failed else ("incomplete" if (blocked or unavailable) else "ok")
    if running:
        status = "running"
    warnings = []
    for n, r in recs.items():
        warnings += [f"{n}: {w}" for w in r.warnings]
    ct_info = ctx.json("ct.json") or {}
    warnings += [f"read: {w}" for w in ct_info.get("warnings", [])]
    outputs = {}
    for r in recs.values():
        if r.status in DONE:
            outputs.update(r.outputs)
    return {
        "manifest_version": MANIFEST_VERSION,
        "spinemets_version": __version__,
        "disclaimer": DISCLAIMER,
        "status": status,
        # complete: nothing left that a re-run with this installation could do (batch resume)
        "complete": not running and not failed and not any(r.status == "skipped" and r.reason and "failed" in r.reason
                                           for r in recs.values()),
        "started_utc": started,
        "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "total_seconds": round(total_s, 3),
        "command": command,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "libraries": ctx.memory.setdefault("libraries", library_versions()),
        "input": {"path": str(ctx.input_path), **input_info},
        "options": ctx.options.to_dict(),
        "options_sha256": options_hash(ctx.options),
        "steps": {n: r.to_dict() for n, r in recs.items()},
        "failed_steps": failed,
        "not_available_steps": unavailable,
        "warnings": _unique(warnings),
        "outputs": dict(sorted(outputs.items())),
    }
