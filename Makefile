# The front door: `make run` and `make test` work on a fresh machine with only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
export CAMPUSCARD_DEV ?= 1

.PHONY: setup run test browser fonts lint stop messages clean chaos

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)

run: setup fonts
	@scripts/run

test: setup browser fonts
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The browser tests drive Debian's Chromium through Playwright (executable_path, no downloaded
# browser), with a Chinese font for the screenshots. Installed once; without root or apt the
# browser tests skip and say why.
browser:
	@{ test -x /usr/bin/chromium && test -d /usr/share/fonts/truetype/wqy; } || { command -v apt-get >/dev/null && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null); } || \
		echo "Chromium could not be installed: the browser tests will be skipped"

# Report PDFs embed a Chinese TrueType font (settlement/reports.py): Debian's fonts-wqy-microhei
# (Apache-2.0, or GPL-3+ with the font exception). Without it they fall back to reportlab's
# built-in STSong-Light, which is not embedded (the log says so), and the embedding test fails in CI.
fonts:
	@test -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc || { command -v apt-get >/dev/null && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null); } || \
		echo "fonts-wqy-microhei could not be installed: report PDFs will not embed their Chinese font"

# Kill -9 the worker, the gateway and Redis, restart PostgreSQL, cut connections, while 200
# simulated terminals trade; then check nothing was lost or posted twice. Private PostgreSQL and
# Redis under var/chaos/ (the system's are never touched). CHAOS_ARGS=--quick, --lunch-rush …
chaos: setup
	$(BIN)/python bench/chaos/run.py $(CHAOS_ARGS)

lint: setup
	$(BIN)/ruff check .

# Stop the embedded PostgreSQL and Redis (make run leaves them up for the next start).
stop: setup
	$(BIN)/python -m campuscard.embedded down

# Recompile translations after editing locale/*/LC_MESSAGES/django.po (needs GNU gettext).
messages: setup
	$(BIN)/python manage.py compilemessages -l zh_Hans

clean: stop
	rm -rf var
