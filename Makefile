# Doorstep: `make run` serves the app with demo data, `make test` runs every test on
# both databases. Each target does its own set-up first (scripts/setup.sh), which skips
# every step that is already done.

HOST ?= 127.0.0.1
PORT ?= 5000
PYTEST_ARGS ?=
TEST_PG_DB ?= doorstep_test
TEST_PG_URL = postgresql+psycopg://postgres@127.0.0.1:5432/$(TEST_PG_DB)

VENV := .venv
PYTHON := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app server

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help
.PHONY: help setup run test bench clean

help:
	@echo "make run     set up, migrate, load demo data if empty, serve on http://$(HOST):$(PORT)/"
	echo "make test    set up, run all tests on SQLite+SpatiaLite, then on PostgreSQL+PostGIS"
	echo "make bench   set up, run the benchmarks"
	echo "make clean   remove instance/ (the demo database and its photos)"

setup:
	@bash scripts/setup.sh

# DOORSTEP_DATABASE_URL and the other DOORSTEP_* settings pass through from the
# environment; without them the app uses a SpatiaLite file under instance/.
run: setup
	@$(FLASK) doorstep init
	$(FLASK) doorstep demo --if-empty
	host='$(HOST)'; case $$host in 0.0.0.0|::|'') host=127.0.0.1 ;; esac
	db=$$(sed -E 's#(://[^:/@]*):[^@]*@#\1:***@#' <<<"$${DOORSTEP_DATABASE_URL:-SpatiaLite file in instance/}")
	echo
	echo "  Doorstep:  http://$$host:$(PORT)/"
	echo "  database:  $$db"
	echo "  sign in:   office1 / demo1234  (also investigator1-4, panel1-5, county1, admin; same password)"
	echo "  Ctrl-C stops the server."
	echo
	exec $(VENV)/bin/waitress-serve --host=$(HOST) --port=$(PORT) --threads=8 --call server:create_app

# The whole suite runs twice, once per database; the second run happens even when the
# first fails, and the target fails if either does. Settings that point at real data are
# unset, so a test run never touches the database or photo store of `make run`.
test: setup
	@unset DOORSTEP_DATABASE_URL DOORSTEP_TEST_DATABASE_URL DOORSTEP_PHOTO_STORE \
	      DOORSTEP_S3_ENDPOINT_URL DOORSTEP_S3_BUCKET
	color=; if [ -t 1 ]; then color=--color=yes; fi
	log=$$(mktemp); trap 'rm -f "$$log"' EXIT
	status=0; summary=()
	suite() {  # suite NAME VAR=VALUE...: run pytest once, add a line to the summary
		local name=$$1 rc=0 line
		shift
		echo; echo "=== tests on $$name ==="
		env "$$@" $(PYTHON) -m pytest $$color $(PYTEST_ARGS) 2>&1 | tee "$$log" || rc=$$?
		line=$$(sed 's/\x1b\[[0-9;]*m//g' "$$log" | grep -E '^(=+ )?[0-9a-z ,]+ in [0-9.]+s' | tail -n 1 || true)
		n() { grep -oE "[0-9]+ $$1" <<<"$$line" | grep -oE '^[0-9]+' || echo 0; }
		line="$$name: $$(n passed) passed, $$(( $$(n failed) + $$(n error) )) failed, $$(n skipped) skipped"
		case $$rc in
			0) ;;
			1) status=1 ;;
			5) status=1; line+=" (no test ran)" ;;
			*) status=1; line+=" (pytest stopped: exit $$rc)" ;;
		esac
		summary+=("$$line")
	}
	suite sqlite DOORSTEP_TEST_DB=sqlite
	echo; echo "=== preparing PostgreSQL database $(TEST_PG_DB) ==="
	if bash scripts/ensure_postgres.sh $(TEST_PG_DB); then
		suite postgresql DOORSTEP_TEST_DB=postgresql DOORSTEP_TEST_DATABASE_URL=$(TEST_PG_URL)
	else
		summary+=("postgresql: not run (database $(TEST_PG_DB) could not be prepared)"); status=1
	fi
	echo; printf '%s\n' "$${summary[@]}"
	exit $$status

bench: setup
	@if [ -f bench/__main__.py ]; then
		exec $(PYTHON) -m bench
	else
		echo "No benchmarks exist yet (bench/__main__.py is missing)."
	fi

# Only the demo instance: its database, photos and secret key. .venv stays.
clean:
	rm -rf instance/
