#!/usr/bin/env bash
# Build the documentation site from a fresh clone with one command, and serve it:
#
#   bash scripts/docs.sh            # install, build strictly into site/, then serve it on
#                                   # http://127.0.0.1:8000 (rebuilds once per edit)
#   bash scripts/docs.sh build      # install and build into site/ only
#
# The site is computed, not just Markdown: every figure, worked example, table and
# exercise answer is produced by the package (and by its oracles: transformers, torch,
# kaldi-native-fbank, fairseq) when the site is built, so the build needs what the tests
# need. This installs exactly what scripts/test.sh installs, into the same .venv (safe to
# re-run; a second run only builds): torch==2.13.0 first (on the project's machines a
# local CPU wheel; any other torch request pulls a multi-GB CUDA build), then the package
# with its test extra (which holds the docs and notebooks extras), then fairseq built from
# source against that torch (minutes of compiling the first time, cached by pip after).
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-serve}"
case "$what" in build | serve) ;; *) echo "usage: bash scripts/docs.sh [build|serve]" >&2; exit 2 ;; esac
python3 -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" torch==2.13.0
"${pip[@]}" -e ".[test]"
"${pip[@]}" --no-build-isolation --no-deps fairseq-fixed==0.12.3.1  # as scripts/test.sh, which says why
export NO_MKDOCS_2_WARNING=1  # a banner about MkDocs 2, not about this site
# The pages teach and measure the NumPy engine; the ONNX page chooses its runtimes itself
export MINIS2T_RUNTIME="${MINIS2T_RUNTIME:-numpy}"
# The pages import the checkout's minis2t and parity/ (the twin, an oracle of the parity page)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
.venv/bin/python -m mkdocs build --strict --site-dir site
echo "built: site/index.html"
if [ "$what" = serve ]; then
  .venv/bin/python -m mkdocs serve --dev-addr 127.0.0.1:8000
fi
