#!/usr/bin/env bash
# Install everything the tests need into .venv and run them. This is the README's test
# command and exactly what CI runs (.ci/run). Safe to re-run: it reuses .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
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
