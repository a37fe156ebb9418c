#!/usr/bin/env bash
# Install minis2t into .venv and transcribe the bundled recordings with the bundled model. The README's
# first command. Safe to re-run: it reuses .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
.venv/bin/minis2t demo "$@"
