#!/usr/bin/env bash
# Install everything the tests need into .venv and run them. This is the README's test
# command and exactly what CI runs (.ci/run). Safe to re-run: it reuses .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
# Chromium: the browser tests (the site fits its column, explain's page opens offline) look
# at pages as a reader sees them. Installed from Debian where it is missing and we may.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
    || echo "scripts/test.sh: could not install chromium; the browser tests will say they were skipped" >&2
fi
python3 -m venv .venv
# torch first, pinned: on these machines 2.13.0 is a local CPU wheel, and any other torch
# request pulls a multi-GB CUDA build. The declared range (torch>=2.2) admits it.
.venv/bin/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
# fairseq, the fourth oracle (tests/test_fairseq.py): a source distribution, built against
# the torch above (an isolated build would fetch another torch) and without its torchaudio
# dependency, whose compiled part does not load with torch 2.13 and whose mere presence
# breaks transformers' feature extractor. Its other dependencies are in the test extra.
# Minutes of compiling the first time; pip caches the wheel after.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-build-isolation --no-deps \
  fairseq-fixed==0.12.3.1
set +e
.venv/bin/python -m pytest -q "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then  # pytest: no tests collected (e.g. a -k that matches nothing)
  echo "pytest collected no tests" >&2
  status=0
fi
exit "$status"
