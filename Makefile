# Two commands do all the set-up on a fresh machine (Python 3.11 and make):
#   make run    the catalog on SQLite, loaded from the sample export, on http://127.0.0.1:8000
#   make test   the test suite (SQLite, or PostgreSQL when DATABASE_URL names one)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

# Local development mode unless the environment says otherwise.
run: export DEBUG ?= true
# The JSON store is a writable copy of the shipped sample (data/sample is read-only input),
# made on first use in var/ (git-ignored).
run: export JSON_EXPORT_DIR ?= $(CURDIR)/var/export
run: $(VENV)/.runtime
	@[ -d "$$JSON_EXPORT_DIR" ] || { mkdir -p "$$JSON_EXPORT_DIR" && \
		cp data/sample/*.json "$$JSON_EXPORT_DIR"/ && \
		echo "JSON store: a copy of data/sample in $$JSON_EXPORT_DIR"; }
	$(BIN)/python manage.py migrate --noinput
	@# Exit status 1 means "records were rejected": the sample has two on purpose.
	$(BIN)/python manage.py backfill_json || { [ $$? -eq 1 ] && \
		echo "(the sample's 2 rejects are on purpose: see data/sample/README.md)"; }
	$(BIN)/python manage.py validate_migration
	$(BIN)/python manage.py ensure_admin
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

test: $(VENV)/.dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-wal db.sqlite3-shm var staticfiles .pytest_cache .ruff_cache
