# seedpress: `make dist` builds seeds/ into dist/, `make test` runs the tests, `make test-fast`
# the fast lane (all but the slow, browser, cluster and jvm tests), `make lint` ruff.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := poppler-utils libharfbuzz-subset0 default-jre-headless fontconfig \
	fonts-dejavu-core fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji
# Only the tests need these: the static search is tested in a real headless browser, the
# nginx site in deploy/ with a real nginx, the systemd units with systemd-analyze verify.
TEST_APT_PACKAGES := chromium nginx systemd

.PHONY: dist test test-fast lint system-deps goldens styles readme-images clean

# Debian packages the editions and the tests need, installed only when missing (a package
# removed but for its configuration counts as missing: `dpkg -s` would call it present).
define install_missing
	@missing=$$(for p in $(1); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
	@mkdir -p $(VENV) && touch $@
endef

system-deps: $(VENV)/.system-deps
$(VENV)/.system-deps:
	$(call install_missing,$(APT_PACKAGES))

$(VENV)/.system-deps-test: $(VENV)/.system-deps
	$(call install_missing,$(TEST_APT_PACKAGES))

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The package is compiled as a wheel's install would: an editable install is not, and where
# Python may not write bytecode (PYTHONDONTWRITEBYTECODE) every command would compile it
# again (0.1 s of an unchanged archive run).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	$(BIN)/python -m compileall -q convert >/dev/null
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/python -m compileall -q convert >/dev/null
	@touch $@ $(VENV)/.installed

# ruff: pyflakes, pycodestyle, import order, bugbear (config in pyproject.toml).
lint: $(VENV)/.installed-test
	$(BIN)/ruff check convert tests bench docs styles

dist: system-deps $(VENV)/.installed
	$(BIN)/seedpress archive seeds --dist dist

# The two OPDS client parsers tests/test_opds_clients.py reads the feeds with (Readium's
# r2-opds-js, NYPL's opds-feed-parser), installed by the machine's npm from the committed
# package-lock.json, again whenever it changes. No install scripts: r2-opds-js's postinstall
# only tidies its own folder, with a tool it does not depend on.
OPDS_CLIENTS := tests/opds-clients
$(OPDS_CLIENTS)/node_modules/.installed: $(OPDS_CLIENTS)/package.json $(OPDS_CLIENTS)/package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js 20 or later (Debian: nodejs npm)"; exit 1; }
	cd $(OPDS_CLIENTS) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

# Test processes (pytest-xdist). Many tests wait on subprocesses, servers, Dask and
# deadlines rather than compute, so a 2-core machine runs three at once to good effect;
# `make test TEST_PROCESSES=0` runs the suite in one process. Work stealing: a process that
# runs out of tests takes some of another's, rather than idling behind a long one (the
# whole suite on 2 cores, back to back: 459 s, against 495 s as xdist hands tests out by
# default).
TEST_PROCESSES ?= 3
XDIST := -n $(TEST_PROCESSES) $(if $(filter 0,$(TEST_PROCESSES)),,--dist worksteal)

# Every test (CI runs this), with the "ci" Hypothesis profile (tests/conftest.py).
test: $(VENV)/.system-deps-test $(VENV)/.installed-test $(OPDS_CLIENTS)/node_modules/.installed
	$(BIN)/python -m pytest -q $(XDIST) --hypothesis-profile=ci

# The fast lane: every test not marked slow, browser, cluster or jvm (pyproject.toml's
# markers); an addition to `make test`, never a replacement. No Chromium needed.
FAST_LANE := not slow and not browser and not cluster and not jvm
test-fast: $(VENV)/.system-deps $(VENV)/.installed-test
	$(BIN)/python -m pytest -q $(XDIST) -m "$(FAST_LANE)"

# Regenerate the expected masters in tests/data for review (git diff shows what changed).
goldens: $(VENV)/.installed
	$(BIN)/python tests/make_goldens.py

# Rebuild styles/reference.docx from pandoc's default and styles/build_reference_docx.py.
styles: $(VENV)/.installed-test
	$(BIN)/python styles/build_reference_docx.py

# The pictures in the README: the seed's first PDF page, and the index, a search and a
# landing page on a phone, and the index and a landing page on a desktop.
readme-images: dist $(VENV)/.system-deps-test $(VENV)/.installed-test
	pdftoppm -png -r 60 -f 1 -l 1 -singlefile dist/000_52d55abe645743f0/000_52d55abe645743f0.pdf docs/first-page
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$$(mktemp -d)" --window-size=390,844 \
		--screenshot=docs/index.png "file://$(CURDIR)/dist/index.html"
	$(BIN)/python docs/make_screenshots.py

clean:
	rm -rf dist .pytest_cache .hypothesis
