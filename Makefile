PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-faults bench lint clean fuzz

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/intake run

# Two workers, one test file each at a time: most slow tests wait on servers and
# subprocesses, so two run side by side on two cores (6.5 min instead of ~15).
test: $(STAMP)
	$(BIN)/pytest -p no:cacheprovider -n 2 --dist loadfile --ignore=tests/faults

# The cluster under faults (tests/faults): SIGKILLs of every role, PostgreSQL, Dovecot and SMTP
# outages; prints the table of inputs, notifications, lost and duplicated. FAULT_SEED=N replays a run.
test-faults: $(STAMP)
	$(BIN)/pytest -p no:cacheprovider -s tests/faults

# One table (bench/all.py): every bench's figure, the anchor measured in the same run, the
# ratio and the target; about 25 min. BENCH_ARGS=--quick takes a few minutes (small sizes).
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python bench/all.py $(BENCH_ARGS)

# Coverage-guided fuzzing of the email parser (fuzz/email_atheris.py) for FUZZ_MINUTES, on a
# corpus seeded from ../shared/corpora into a temporary folder; crashes land in var/fuzz/.
FUZZ_MINUTES ?= 5
fuzz: $(STAMP)
	mkdir -p var/fuzz
	corpus=$$(mktemp -d) && trap 'rm -rf "$$corpus"' EXIT && \
	$(BIN)/python fuzz/seed_corpus.py "$$corpus" && \
	$(BIN)/python fuzz/email_atheris.py "$$corpus" -max_total_time=$$(( $(FUZZ_MINUTES) * 60 )) \
		-max_len=100000 -timeout=10 -rss_limit_mb=2048 -artifact_prefix=var/fuzz/

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var
