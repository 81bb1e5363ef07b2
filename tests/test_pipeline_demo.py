"""`spinemets demo`: phantom -> run -> report with only the core dependencies importable; a second
run reuses the phantom and every step."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

#: Optional heavy packages the demo path must not import (``make demo`` installs only the core).
FORBIDDEN = ("torch", "nnunetv2", "opensim", "dask", "distributed", "pandas", "pyarrow", "radiomics")

RUNNER = r"""
import sys, importlib.abc
FORBIDDEN = {forbidden!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in FORBIDDEN:
            raise ImportError(f"demo must not import {{name}}")
        return None
sys.meta_path.insert(0, Block())
from spinemets.cli import main
rc = main(["demo", "-o", {out!r}, "--size", "small"])
leaked = sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN)
print("LEAKED", leaked)
sys.exit(rc)
"""


def _demo(out: Path) -> subprocess.CompletedProcess:
    code = RUNNER.format(forbidden=FORBIDDEN, out=str(out))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)


def test_demo_core_only_and_cached(tmp_path):
    pytest.importorskip("spinemets.phantom")
    out = tmp_path / "demo"
    p = _demo(out)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "LEAKED []" in p.stdout
    report = Path([ln for ln in p.stdout.splitlines() if ln.endswith("report.html")][-1])
    assert report.exists() and report.parent.parent == out
    m = json.loads((report.parent / "run.json").read_text())
    assert m["steps"]["read"]["status"] == "ok" and m["steps"]["report"]["status"] == "ok"
    res = json.loads((report.parent / "results.json").read_text())
    assert res["case"]["input_format"] == "dicom" and res["subject"]["sex"] in ("male", "female")
    assert (report.parent / "report_sr.dcm").exists() or any(
        "DICOM SR not written" in w["message"] for w in res["warnings"])
    p2 = _demo(out)
    assert p2.returncode == 0, p2.stderr[-3000:]
    assert "demo: phantom: cached" in p2.stderr
    m2 = json.loads((report.parent / "run.json").read_text())
    ran = [n for n, s in m["steps"].items() if s["status"] == "ok"]
    assert [n for n, s in m2["steps"].items() if s["status"] == "cached"] == ran
