# Everything a new machine needs (Python 3.11+, Node 20+, npm) is installed by these targets.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CDK := npx --no-install cdk
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export AWS_DEFAULT_REGION ?= eu-west-2

.PHONY: setup synth test unit infra lint demo sandbox deploy diff clean diagrams docs

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .  # the incidents CLI (.venv/bin/incidents); its dependencies are pinned above
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

setup: $(VENV)/.installed node_modules/.installed ## Create the virtualenv and install the pinned CDK CLI

synth: setup ## Synthesize the CloudFormation template (cdk-nag runs on every synth)
	$(CDK) synth --quiet

# Four workers on two cores: most of the suite waits on (held, see docs/sandbox.md) Step Functions windows, not the CPU.
TEST_WORKERS ?= 4

test: setup ## Run every test: unit, infrastructure, workflow on moto, end-to-end sandbox scenarios; prints the 15 slowest
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup --durations=15

unit: setup
	$(PY) -m pytest tests/unit

infra: setup
	$(PY) -m pytest tests/infra

demo: setup ## Deploy the synthesized stack into a local emulated account and play a scripted incident
	$(PY) -m sandbox run sandbox/scenarios/first_declines_second_acknowledges.json

sandbox: setup ## Keep the emulated account up on 127.0.0.1:4566; drive it with the AWS CLI from another terminal
	$(PY) -m sandbox serve --set ackTimeoutSeconds=60

lint: setup ## ruff (lint + format check) and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy app.py stacks lambdas sandbox tools incidents_cli

diagrams: setup ## Redraw the state machine (Mermaid) in docs/state-machine.md from the synthesized app
	$(PY) -m tools.state_machine_diagram

docs: diagrams ## Regenerate what the docs take from the code: the state machine and the settings reference
	$(PY) -m tools.settings_reference

deploy: setup ## Deploy into the AWS account of your current credentials (add CDK_ARGS="-c key=value ...")
	$(CDK) deploy $(CDK_ARGS)

diff: setup
	$(CDK) diff $(CDK_ARGS)

clean:
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache
