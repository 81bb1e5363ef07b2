"""Batch: 6 cases (one corrupted on purpose) on a 2-worker Dask LocalCluster; failure isolated;
resume after the fix runs only the fixed case; cohort tables and summary page."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from spinemets.batch import read_cohort, run_batch
from spinemets.errors import InputError

pytest.importorskip("dask.distributed")
pd = pytest.importorskip("pandas")


def _source_ct(request, tmp_path) -> Path:
    """One small CT file to link into the cohort: a small phantom as NIfTI (else the real 3 mm CT)."""
    try:
        factory = request.getfixturevalue("phantom_factory")
    except pytest.FixtureLookupError:
        factory = None
    if factory is not None:
        from spinemets.io import write_image

        ph = factory(5, lesions=[("L2", "lytic", "body", 8.0)], fov_levels=("L1", "L5"))
        return write_image(ph.ct, tmp_path / "source_ct.nii.gz")
    p = Path(__file__).resolve().parents[2] / "shared" / "data" / "totalseg_example" / "example_ct.nii.gz"
    if not p.exists():
        pytest.skip("no small CT available for the batch test")
    return p


@pytest.mark.slow
def test_batch_isolates_failure_and_resumes(request, tmp_path):
    src = _source_ct(request, tmp_path)
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    for i in range(6):
        dst = cohort / f"case{i}.nii.gz"
        if i == 3:  # corrupted on purpose: a truncated gzip
            dst.write_bytes(src.read_bytes()[:2000])
        else:
            dst.symlink_to(src)
    out = tmp_path / "out"
    cases = read_cohort(cohort)
    assert [c.case_id for c in cases] == [f"case{i}" for i in range(6)]
    s1 = run_batch(cases, out, workers=2, options={"fe": False}, progress=None)
    assert len(s1.ran) == 6
    failed = s1.failed
    assert [c["case_id"] for c in failed] == ["case3"]
    assert failed[0]["error"].startswith("bad input:")
    ok = [c for c in s1.cases if c["status"] != "failed"]
    assert len(ok) == 5 and all((out / c["run_id"] / "results.json").exists() for c in ok)
    table = pd.read_parquet(out / "cohort.parquet")
    assert sorted(table["case_id"].unique()) == ["case0", "case1", "case2", "case4", "case5"]
    assert (pd.read_csv(out / "cohort.csv").shape == table.shape)
    cases_csv = pd.read_csv(out / "cases.csv")
    assert cases_csv.loc[cases_csv.case_id == "case3", "status"].item() == "failed"
    html = (out / "cohort_summary.html").read_text()
    assert "case3" in html and "bad input" in html and 'href="case0/report.html"' in html

    # fix the corrupted case and resume: only that case runs
    (cohort / "case3.nii.gz").unlink()
    (cohort / "case3.nii.gz").symlink_to(src)
    s2 = run_batch(read_cohort(cohort), out, workers=2, options={"fe": False}, progress=None)
    assert s2.ran == ["case3"] and not s2.failed
    assert sorted(pd.read_parquet(out / "cohort.parquet")["case_id"].unique()) == [f"case{i}" for i in range(6)]


def test_read_cohort_csv(tmp_path):
    (tmp_path / "a.nii.gz").write_bytes(b"x")
    csv = tmp_path / "cohort.csv"
    csv.write_text("case_id,path,sex,age,weight_kg,height_cm,timepoint\n"
                   "p1,a.nii.gz,F,64,70.5,165,baseline\n"
                   "p1,a.nii.gz,F,64,70.5,165,m3\n"
                   "p2,/abs/b,,,,,\n")
    cases = read_cohort(csv)
    assert [c.run_id for c in cases] == ["p1_baseline", "p1_m3", "p2"]
    assert cases[0].sex == "female" and cases[0].weight_kg == 70.5 and cases[0].age_years == 64
    assert Path(cases[0].path) == (tmp_path / "a.nii.gz").resolve() and cases[2].sex is None
    csv.write_text("case_id,path,weight_kg\np1,a.nii.gz,heavy\n")
    with pytest.raises(InputError, match="weight_kg 'heavy' is not a number"):
        read_cohort(csv)
    csv.write_text("id,file\n")
    with pytest.raises(InputError, match="needs the columns case_id and path"):
        read_cohort(csv)
    csv.write_text("case_id,path\np1,a\np1,b\n")
    with pytest.raises(InputError, match="duplicate case ids"):
        read_cohort(csv)


def test_read_cohort_folder_rejects_empty(tmp_path):
    with pytest.raises(InputError, match="holds no case"):
        read_cohort(tmp_path)
    (tmp_path / "dicom_case").mkdir()
    (tmp_path / "img.mha").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    assert [c.case_id for c in read_cohort(tmp_path)] == ["dicom_case", "img"]


def test_missing_dask_gives_a_clear_error(monkeypatch, tmp_path):
    import sys

    from spinemets import batch
    from spinemets.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    with pytest.raises(MissingDependencyError, match="pip install 'spinemets\\[cohort\\]'"):
        batch._client(2, None, 1)


def test_batch_on_a_running_scheduler(tmp_path):
    """--scheduler: the cases go to an existing Dask cluster (here a bad case: fails fast, isolated)."""
    from dask.distributed import LocalCluster

    cohort = tmp_path / "cohort"
    cohort.mkdir()
    (cohort / "bad.nii.gz").write_bytes(b"\x1f\x8b not a CT")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        s = run_batch(read_cohort(cohort), tmp_path / "out", scheduler=cluster.scheduler_address, progress=None)
    assert [c["status"] for c in s.cases] == ["failed"] and "bad input" in s.cases[0]["error"]
    assert (tmp_path / "out" / "bad" / "run.json").exists()
    assert pd.read_parquet(tmp_path / "out" / "cohort.parquet").empty
