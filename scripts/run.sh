#!/usr/bin/env bash
# Install minis2t into .venv and transcribe the bundled recordings with the bundled model. The README's
# first command. Safe to re-run: it reuses .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
# Only minis2t and its NumPy-side dependencies: the main job never imports torch.
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
.venv/bin/minis2t demo "$@"
