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


# --- synthetic phantom fixtures (spinemets.phantom) -------------------------------------------
_PHANTOM_CACHE: dict = {}


@pytest.fixture(scope="session")
def phantom_factory():
    """Cached callable ``(seed, **overrides) -> Phantom`` (small preset unless ``size`` is given).

    Overrides are PhantomConfig fields, e.g. ``phantom_factory(3, lesions=[], fov_levels=("T10", "L5"))``.
    The returned Phantom is shared between tests: do not modify its arrays in place.
    """
    from spinemets.phantom import PhantomConfig, generate_phantom

    def make(seed: int = 0, **overrides):
        overrides.setdefault("size", "small")
        key = (seed, tuple(sorted((k, repr(v)) for k, v in overrides.items())))
        if key not in _PHANTOM_CACHE:
            _PHANTOM_CACHE[key] = generate_phantom(PhantomConfig(seed=seed, **overrides))
        return _PHANTOM_CACHE[key]

    return make


@pytest.fixture(scope="session")
def phantom_small(phantom_factory):
    """Small-preset phantom (seed 11) with one lytic (L1 body) and one blastic (T12 body) lesion."""
    return phantom_factory(11, lesions=[("L1", "lytic", "body", 9.0), ("T12", "blastic", "body", 7.0)])


@pytest.fixture(scope="session")
def phantom_study_dir(phantom_small, tmp_path_factory):
    """``phantom_small`` written as a study folder with DICOM CT + SEG, NIfTI and truth.json."""
    from spinemets.phantom import write_study

    return write_study(phantom_small, tmp_path_factory.mktemp("phantom_study"), dicom=True, preview=False)
