# Every target sets up what it needs: a fresh clone only needs `make run` or `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test browser clickhouse lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m demo

# The browser tests run on their own: Playwright's sync API keeps an event loop running in
# its process, which would break the asyncio.run of tests that follow them on a worker.
test: $(STAMP) browser clickhouse
	$(BIN)/python -m pytest -n 2 tests --ignore=tests/browser
	$(BIN)/python -m pytest -n 2 tests/browser

# Debian's Chromium for tests/browser (never `playwright install`). When it cannot be
# installed, say so and go on: those tests then fail, naming what is missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo "sudo -n"); \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $$SUDO apt-get install -y chromium || { $$SUDO apt-get update && $$SUDO apt-get install -y chromium; }; \
	} || echo "*** Chromium could not be installed (apt-get install -y chromium): the browser tests will fail ***" >&2

# Debian's clickhouse-server (18.16) and the libraries it loads, unpacked into var/clickhouse
# for the event-log tests, which start it as a child process: never installed as a system
# service. When it cannot be fetched, say so and go on: those tests then fail, naming it.
CLICKHOUSE := var/clickhouse/root/usr/sbin/clickhouse-server
CLICKHOUSE_DEBS := clickhouse-server clickhouse-common libboost-filesystem1.74.0 \
  libboost-program-options1.74.0 libcapnp-0.9.2 libcctz2 libcpuinfo0 libdouble-conversion3 \
  libfarmhash0 libicu72 libjemalloc2 libmariadb3 libmetrohash1 libpocodata80 \
  libpocodataodbc80 libpocofoundation80 libpocomongodb80 libpoconet80 libpoconetssl80 \
  libpocoutil80 libpocoxml80 libpocojson80 libpococrypto80 librdkafka1 libre2-9 libodbc2 \
  libodbcinst2 libsasl2-2 libsasl2-modules-db libpcre3 libltdl7

clickhouse: $(CLICKHOUSE)

$(CLICKHOUSE):
	@mkdir -p var/clickhouse/debs
	@SUDO=$$([ "$$(id -u)" = 0 ] || echo "sudo -n"); \
	{ (cd var/clickhouse/debs && apt-get download $(CLICKHOUSE_DEBS) >/dev/null 2>&1) || \
	  { $$SUDO apt-get update >/dev/null && \
	    (cd var/clickhouse/debs && apt-get download $(CLICKHOUSE_DEBS) >/dev/null); }; \
	} && for deb in var/clickhouse/debs/*.deb; do dpkg -x $$deb var/clickhouse/root; done \
	|| echo "*** clickhouse-server could not be unpacked (apt-get download): the event-log server tests will fail ***" >&2

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
