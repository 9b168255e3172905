# Berth developer commands. `make run` and `make test` are the whole quick start.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test test-unit stack-test lint format agent bench screenshots testbed-up testbed-down clean

run:  ## install what is missing, then run Berth on 127.0.0.1:8000
	scripts/run

test:  ## the whole suite on SQLite, then on PostgreSQL, against a test fleet it starts and stops itself
	scripts/run-tests

test-unit:  ## tests that need no test fleet
	scripts/bootstrap test
	$(VENV)/bin/pytest tests/unit -q

stack-test:  ## the production stack (docker-compose.yml) built and started for real, smoke-tested
	scripts/bootstrap test
	scripts/testbed status --hosts 3 >/dev/null 2>&1 || scripts/testbed up 3
	scripts/stack-test

lint:  ## ruff, mypy (server, agent, scripts), the layering contract, migrations check, compose file check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	scripts/typecheck
	$(VENV)/bin/lint-imports --no-cache --no-logo
	BERTH_DEBUG=true $(PY) manage.py makemigrations --check --dry-run
	scripts/check-compose

format:
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

agent:  ## build build/berth-agent.pyz (reproducible)
	$(PY) scripts/build-agent

bench:  ## benchmarks against the test fleet (started if it is not up); JSON in bench/results/
	scripts/bootstrap bench
	scripts/testbed status --hosts 3 >/dev/null 2>&1 || scripts/testbed up 3
	$(PY) bench/agent_latency.py
	$(PY) bench/deploy.py
	$(PY) bench/ui_scale.py
	$(PY) bench/prune_operations.py
	$(PY) bench/fleet_refresh.py
	$(PY) bench/rollout_scale.py

screenshots:  ## PNGs of the main pages at 1280 and 390 px into docs/screenshots/ (test fleet started if it is not up)
	scripts/bootstrap test
	$(PY) scripts/screenshots

testbed-up:
	scripts/testbed up 3

testbed-down:
	scripts/testbed down

clean:
	rm -rf build staticfiles .pytest_cache .ruff_cache .mypy_cache
