# minik8s — the two commands of the quick start are `make up` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup system-packages venv dashboard dockerd images up down test test-unit test-integration test-e2e check lint bench clean \
	compose-images compose-up compose-ha-up compose-dashboard compose-down test-compose test-quick

setup: system-packages venv dashboard

# The dashboard's frontend: npm packages pinned by the lockfile, built by vite into
# minik8s/dashboard/static (served by minik8s-dashboard); rebuilt only when a source changes.
DASHBOARD_FE := minik8s/dashboard/frontend
DASHBOARD_BUILT := minik8s/dashboard/static/index.html

dashboard: $(DASHBOARD_BUILT)

$(DASHBOARD_BUILT): $(DASHBOARD_FE)/package.json $(DASHBOARD_FE)/package-lock.json \
		$(DASHBOARD_FE)/vite.config.js $(DASHBOARD_FE)/index.html $(wildcard $(DASHBOARD_FE)/src/*)
	@bash deploy/build-dashboard.sh

system-packages:
	@bash deploy/setup-system.sh

venv: $(STAMP)

$(STAMP): pyproject.toml
	@bash deploy/setup-venv.sh $(VENV)
	@touch $(STAMP)

up: setup images
	@$(VENV)/bin/minik8s up

down:
	@$(VENV)/bin/minik8s down

# dockerd is started in the background when none answers; images are built once (skipped
# when present; the Debian rootfs for nginx is cached under ~/.minik8s/cache).
dockerd: system-packages
	@bash deploy/start-dockerd.sh

images: dockerd
	@bash deploy/images/build.sh

# The docker-compose cluster (deploy/docker-compose.yml): images built offline and cached, the
# control plane and two nodes as containers, the host's kubeconfig in deploy/kubeconfig.
COMPOSE := $(shell command -v docker-compose >/dev/null 2>&1 && echo docker-compose || echo docker compose)

compose-images: setup dockerd
	@bash deploy/images/build.sh compose

compose-up: compose-images
	@cd deploy && $(COMPOSE) up -d
	@echo "compose: kubectl --kubeconfig deploy/kubeconfig get nodes"
	@echo "compose: dashboard: make compose-dashboard (prints a one-time sign-in link, 2 min)"

# The HA layout (deploy/docker-compose.ha.yml over it): 3 etcd members, 3 apiservers behind
# HAProxy, 2 schedulers / controller-managers / cloud controllers; the same kubeconfig.
compose-ha-up: compose-images
	@cd deploy && $(COMPOSE) --env-file compose/ha.env up -d
	@echo "compose: kubectl --kubeconfig deploy/kubeconfig get --raw /readyz   (through HAProxy)"
	@echo "compose: kubectl --kubeconfig deploy/kubeconfig get leases -n kube-system"

# A one-time sign-in link to the compose cluster's dashboard for deploy/kubeconfig's user (the
# dashboard mints it in its own container; the kubeconfig travels on stdin, never in a URL).
compose-dashboard:
	@cd deploy && $(COMPOSE) exec -T dashboard python3 -m minik8s.dashboard.signin \
	  --grant-dir=/run/minik8s-dashboard/grants < kubeconfig

compose-down:
	@cd deploy && $(COMPOSE) -f docker-compose.yml -f docker-compose.ha.yml --profile workers \
	  --profile etcd-ha down -v --remove-orphans
	@rm -f deploy/kubeconfig

test-compose: setup compose-images
	@$(PY) -m pytest -q -p no:cacheprovider -m compose tests/e2e/test_compose.py \
	  tests/e2e/test_compose_ha.py

# Every tier, the docker-compose cluster included (its images are built once and cached).
test: setup images compose-images
	@bash deploy/run-tests.sh

# The same without the docker-compose cluster: quicker on a fresh machine.
test-quick: setup images
	@PYTEST_MARKERS="not compose" bash deploy/run-tests.sh

test-e2e: setup images
	@$(PY) -m pytest -q tests/e2e

test-unit: venv
	@$(PY) -m pytest -q tests/unit

test-integration: setup
	@$(PY) -m pytest -q tests/integration

lint: venv
	@$(VENV)/bin/ruff format --check minik8s tests bench cmd
	@$(VENV)/bin/ruff check minik8s tests bench cmd
	@$(VENV)/bin/lint-imports --no-cache

check: lint
	@$(VENV)/bin/mypy minik8s
	@$(MAKE) test

bench: setup
	@$(PY) -m bench.api

clean:
	rm -rf $(VENV) .pytest_cache
