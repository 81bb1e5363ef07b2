"""``spinemets info``: text, JSON, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import shutil

import pytest
from pydicom.data import get_testdata_file

from spinemets.cli import main


def test_info_text_and_json(totalseg_dir, capsys):
    nii = totalseg_dir / "example_ct.nii.gz"
    assert main(["info", str(nii)]) == 0
    out = capsys.readouterr().out
    assert "122 x 101 x 112" in out and "RAS" in out and "HU range" in out
    assert main(["info", str(nii), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["size_xyz"] == [122, 101, 112] and d["orientation"] == "RAS"
    assert d["hu"]["min"] == -1207 and d["hu"]["max"] == 3382 and d["modality"] == "CT"


def test_info_dicom_json(totalseg_dir, capsys):
    assert main(["info", str(totalseg_dir / "example_ct_dicom"), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["size_xyz"] == [512, 512, 20] and d["orientation"] == "LPS"
    assert d["spacing_mm"][2] == pytest.approx(2.0) and d["slice_gap_mm"] == pytest.approx(-1.0)
    assert d["missing_slices"] == [] and len(d["series_found"]) == 1


def _one_line_error(capsys, argv):
    assert main(argv) == 2
    cap = capsys.readouterr()
    lines = [ln for ln in cap.err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in cap.err + cap.out
    return lines[0]


def test_info_errors(totalseg_dir, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert "empty" in _one_line_error(capsys, ["info", str(tmp_path / "empty")])
    (tmp_path / "mr").mkdir()
    shutil.copy(get_testdata_file("MR_small.dcm"), tmp_path / "mr" / "a.dcm")
    assert "MR" in _one_line_error(capsys, ["info", str(tmp_path / "mr")])
    assert "does not look like a CT" in _one_line_error(
        capsys, ["info", str(totalseg_dir / "example_mr_sm.nii.gz"), "--json"])
    (tmp_path / "one").mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), tmp_path / "one" / "a.dcm")
    assert "single 2-D slice" in _one_line_error(capsys, ["info", str(tmp_path / "one")])
    gap = tmp_path / "gap"
    gap.mkdir()
    files = sorted((totalseg_dir / "example_ct_dicom").iterdir())
    for f in files[:8] + files[9:]:
        shutil.copy(f, gap / f.name)
    assert "missing slice" in _one_line_error(capsys, ["info", str(gap)])
