# The two commands a newcomer needs:  `make run`  and  `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NODE_STAMP := web_client/node_modules/.installed

.PHONY: run test test-fast lint postgres bench bench-gis bench-geocode bench-media bench-planes bench-ingest bench-record bench-signal bench-failover bench-turn venv web browsers chromium screenshots clean

run: venv web                       ## start the gateway with its embedded defaults
	$(BIN)/scenelink basemap build --default --if-missing
	$(BIN)/scenelink serve

# The whole suite must run: a test whose browser, namespace, database or server is missing fails
# instead of skipping (tests/strict.py), as in CI (CI=true).
test: venv web browsers postgres lint ## install what the tests need, lint, and run the whole suite
	SCENELINK_REQUIRE_ALL=1 tests/netns-run $(BIN)/python -m pytest -q --durations=20

test-fast: venv lint                ## lint and unit tests only, no browser, no network namespace
	$(BIN)/python -m pytest -q tests/unit

lint: venv                          ## ruff (style, imports, bugbear, pyupgrade) and mypy (gateway, gis)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: venv chromium postgres       ## run every benchmark; figures go to docs/performance.md
	$(BIN)/python -m benchmarks.bench_gis
	$(BIN)/python -m benchmarks.bench_geocode
	$(BIN)/python -m benchmarks.bench_record
	tests/netns-run $(BIN)/python -m benchmarks.bench_media
	tests/netns-run $(BIN)/python -m benchmarks.bench_signal
	tests/netns-run $(BIN)/python -m benchmarks.bench_failover
	tests/netns-run $(BIN)/python -m benchmarks.bench_turn

bench-gis: venv
	$(BIN)/python -m benchmarks.bench_gis

bench-geocode: venv                 ## the whole `scenelink geocode --csv` job against geopandas, as processes
	$(BIN)/python -m benchmarks.bench_geocode

bench-record: venv postgres          ## the record under 20 callers' load, and a 1-million-entry chain verified, on SQLite and PostgreSQL
	$(BIN)/python -m benchmarks.bench_record

bench-media: venv                   ## media capacity: runs a gateway and synthetic callers in a private namespace
	tests/netns-run $(BIN)/python -m benchmarks.bench_media

bench-planes: venv                  ## the embedded relay against Janus's VideoRoom, same callers, side by side
	tests/netns-run $(BIN)/python -m benchmarks.bench_planes

bench-ingest: venv                  ## what receiving a caller costs the gateway: the decoder, REMB feedback, both planes
	tests/netns-run $(BIN)/python -m benchmarks.bench_ingest

bench-failover: venv chromium      ## failover: kill the node holding a Chromium caller, behind nginx
	tests/netns-run $(BIN)/python -m benchmarks.bench_failover

bench-turn: venv chromium          ## a Chromium caller direct, through TURN over UDP and over TLS on 443 (coturn), same run
	tests/netns-run $(BIN)/python -m benchmarks.bench_turn

bench-signal: venv chromium         ## bad-network scenarios with a real Chromium caller (root, ../shared/tools/impair)
	tests/netns-run $(BIN)/python -m benchmarks.bench_signal

screenshots: venv web chromium      ## refresh docs/screenshots/ from the end-to-end test
	SCENELINK_SCREENSHOTS=1 tests/netns-run $(BIN)/python -m pytest -q tests/e2e

venv: $(STAMP)
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $@

web: $(NODE_STAMP)
# The pages' libraries, and puppeteer-core (a development dependency) for the Firefox caller tests;
# it drives Debian's firefox-esr and never downloads a browser of its own.
$(NODE_STAMP): web_client/package.json web_client/package-lock.json
	cd web_client && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian packages the tests use: Chromium drives the browser tests (Playwright's own browser
# download is not used) and Firefox ESR is the second caller browser (through puppeteer-core, see
# `web`); redis-server and nginx are started by the tests that need them, on sockets
# and ports of their own (nginx with the documented configuration, docs/deploy/nginx/); ethtool and
# iproute2 let the impairment harness (../shared/tools/impair) put a caller on a bad network;
# postgresql serves the record's tests on their second dialect (target postgres below); coturn
# relays the TURN-only caller (the documented configuration, docs/deploy/coturn/) and nftables
# makes that caller's network one that lets nothing through but TCP.
DEBIAN_PACKAGES := chromium firefox-esr redis-server nginx ethtool iproute2 postgresql janus coturn nftables
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
chromium: browsers                  ## the same as `browsers` (its former name)
browsers:                           ## Debian's Chromium and Firefox ESR, and the servers the tests start
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  case " $$missing " in *" coturn "*) \
	    echo "coturn: the system service stays off (Debian's default file has no authentication; tests run their own)"; \
	    $(SUDO) systemctl disable --now coturn >/dev/null 2>&1 || true;; \
	  esac; \
	fi

# The record's tests and bench-record use the machine's PostgreSQL through its Unix socket, as the
# postgres user (trust authentication on the socket, as this project's machines are set up): a
# database of their own per test module, dropped after. Started here when it is not running.
postgres: browsers
	@pg_isready -q -h /var/run/postgresql || { \
	  echo "starting PostgreSQL"; \
	  $(SUDO) pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | sort -V | tail -1) main start; }

clean:
	rm -rf $(VENV) web_client/node_modules samples/build
