"""Shared fixtures: the real public data beside the repo, and temporary folders."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
TOTALSEG = SHARED_DATA / "totalseg_example"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"../shared/data not found beside the repo ({SHARED_DATA})")
    return SHARED_DATA


@pytest.fixture(scope="session")
def totalseg_dir(shared_data: Path) -> Path:
    d = shared_data / "totalseg_example"
    if not d.is_dir():
        pytest.skip("totalseg_example data missing")
    return d
