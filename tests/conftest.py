"""Shared fixtures: the bundled real recordings and hypothesis profiles."""

import csv
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

SPEECH_DIR = Path(__file__).parent / "data" / "speech"

# CI gets a fixed, modest number of examples so the suite stays fast on 2 cores;
# `HYPOTHESIS_PROFILE=thorough pytest` explores more.
settings.register_profile(
    "default", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def read_manifest() -> list[dict]:
    with open(SPEECH_DIR / "manifest.tsv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


RECORDINGS = read_manifest()


@pytest.fixture(params=[r["file"] for r in RECORDINGS])
def recording(request) -> dict:
    """One manifest row, with ``path`` added."""
    row = next(r for r in RECORDINGS if r["file"] == request.param)
    return {**row, "path": SPEECH_DIR / row["file"]}
