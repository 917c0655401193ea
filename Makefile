# The two set-up commands of the README: `make demo` and `make test`.
# Both create .venv with Python 3.11 and install irelab into it first.
PYTHON ?= python3.11
# The suite runs in this many pytest-xdist worker processes, whole test files to one worker (a
# file's fixtures are built once): serially it kept the second of CI's two cores mostly idle.
TEST_WORKERS ?= 2
VENV   := .venv
BIN    := $(VENV)/bin
# Files are UTF-8 whatever the machine's locale (CI may run with LANG unset, i.e. ASCII).
export PYTHONUTF8 := 1

.PHONY: demo test lint browser postgres clean constraints

# Installs the versions the suite last passed with (constraints.txt), so a fresh clone gets what
# CI tested; `make constraints` rewrites that file from the current environment.
$(BIN)/irelab: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

constraints: $(BIN)/irelab
	{ echo "# Versions the test suite last passed with (Python 3.11, Linux x86_64)."; \
	  echo "# Regenerate after a dependency change: make constraints"; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v '^irelab'; } > constraints.txt

demo: $(BIN)/irelab
	$(BIN)/irelab demo --out out/demo

# Headless Chromium for the registry's browser test (Debian packages; needs root or sudo).
browser:
	@command -v chromium >/dev/null 2>&1 || bash scripts/install_chromium.sh

# A throw-away PostgreSQL server for the registry's database tests, if the machine allows.
postgres:
	@bash scripts/postgres.sh start || echo "PostgreSQL not available here: its tests will be skipped"

lint: $(BIN)/irelab
	$(BIN)/ruff check src tests benchmarks

# Starts the throw-away PostgreSQL if it is not running, and stops it again afterwards (also when
# the tests fail or are interrupted); a server that was running before is left running.
test: $(BIN)/irelab browser
	$(BIN)/ruff check src tests benchmarks
	@started=0; \
	if ! bash scripts/postgres.sh status 2>/dev/null; then \
	    if bash scripts/postgres.sh start; then started=1; \
	    else echo "PostgreSQL not available here: its tests will be skipped"; fi; \
	else bash scripts/postgres.sh start; fi; \
	if [ $$started = 1 ]; then trap 'bash scripts/postgres.sh stop' EXIT INT TERM; fi; \
	. scripts/postgres.env 2>/dev/null; $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

clean:
	rm -rf $(VENV) out .pytest_cache
