# The verbs a user types. `make build` and `make test` set everything up themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
CHROMIUM := /usr/bin/chromium

.PHONY: install merge-driver build check stats watch sync test lint preview chromium libseccomp clean

# `make` alone: install, and teach git to merge the card ledger.
install: $(STAMP) merge-driver

$(STAMP): pyproject.toml constraints.txt | libseccomp
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[sync,test,lint]'
	touch $(STAMP)

# MathJax from npm (pinned by package-lock.json), for TeX validation and the preview.
# Without npm the deck still builds, with a warning that the TeX was not validated.
$(NODE_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --no-audit --no-fund --loglevel=error && touch $@; \
	else \
		echo "npm not found: TeX will not be validated (apt-get install nodejs npm)"; \
	fi

# git merges cards/ with `build-deck ledger merge` (see .gitattributes, docs/ledger.md):
# both sides' cards keep their identities. Does nothing outside a git repository.
merge-driver: $(STAMP)
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
		git config merge.build-deck-ledger.name "build-deck card ledger (keeps both sides' cards)" && \
		git config merge.build-deck-ledger.driver "$(abspath $(BIN))/build-deck ledger merge %O %A %B"; \
	fi

# Debian's Chromium for the browser tests; Playwright's own browser download is never used.
chromium:
	test -x $(CHROMIUM) || (apt-get update && apt-get install -y chromium)

# The system's libseccomp confines the check workers on Linux (Debian: libseccomp2).
libseccomp:
	@if [ "$$(uname)" = Linux ] && ! ldconfig -p | grep -q 'libseccomp\.so\.2'; then \
		apt-get update && apt-get install -y libseccomp2; \
	fi

build: $(STAMP) $(NODE_STAMP) merge-driver
	$(BIN)/build-deck build

check: $(STAMP) $(NODE_STAMP) merge-driver
	$(BIN)/build-deck check

preview: $(STAMP) $(NODE_STAMP) merge-driver
	$(BIN)/build-deck preview

stats: $(STAMP)
	$(BIN)/build-deck stats

watch: $(STAMP) $(NODE_STAMP) merge-driver
	$(BIN)/build-deck watch

# Apply the notes to the default Anki profile's collection (close Anki first).
sync: $(STAMP) $(NODE_STAMP) merge-driver
	$(BIN)/build-deck sync

test: $(STAMP) $(NODE_STAMP) chromium merge-driver
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check build_deck tests bench
	$(BIN)/ruff format --check build_deck tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) node_modules dist build .cache .pytest_cache .mypy_cache .ruff_cache *.egg-info
