# The two commands of the quick start, and a few conveniences.
.PHONY: setup run test lint

setup:
	bash scripts/setup.sh

run: setup
	bash scripts/run.sh $(ARGS)

test: setup
	bash scripts/test.sh

lint:
	.venv/bin/ruff check src flows tests benchmarks
