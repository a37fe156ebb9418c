# Convenience targets; the README's two commands do not need make.
.PHONY: run test bench docs serve

run:
	bash scripts/run.sh

test:
	bash scripts/test.sh

bench:
	.venv/bin/python benchmarks/features.py
	.venv/bin/python benchmarks/model.py

docs:
	.venv/bin/mkdocs build --strict

serve:
	.venv/bin/mkdocs serve
