# Everything a user or CI runs. `make demo` and `make test` work on a fresh clone: they build .venv themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck unit integration properties soak validate build checkov deploy deploy-guided stackset-template bench bench-check
.PHONY: mutation lock clean

# The venv, the pinned tools, and the project itself (editable) so the `mirror-audit` command is on PATH in .venv.
# uv (pinned, and in the lock) installs the lock in seconds where pip takes about a minute; its dependencies and
# setuptools come from the lock, hence --no-deps --no-build-isolation for the project (no extra download).
UV_VERSION := $(shell sed -n 's/^uv==//p' requirements-dev.txt)
$(BIN)/.installed: requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements-dev.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation --editable .
	touch $@

demo: $(BIN)/.installed
	$(BIN)/python -m simulation.demo

# About 7 minutes on 2 cores, most of it integration (~3 min) and properties (~2 min).
test: lint typecheck unit integration properties validate build checkov bench-check

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy layers/mirroring/python cli functions simulation bench tests/unit/fake_port.py
	$(BIN)/mypy --python-version 3.13 layers/mirroring/python cli functions

unit: $(BIN)/.installed
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

integration: $(BIN)/.installed
	$(BIN)/pytest tests/integration -n 2 $(PYTEST_ARGS)

# Invariants under random histories, a fault at every call, races, bad input, a throttled burst over HTTP
# (tests/properties). `make properties` runs the fast profile (200 histories, a burst of 100); `make soak` the long
# one (3000 histories of up to 40 steps, a burst of 500). Each prints its figures at the end.
properties: $(BIN)/.installed
	$(BIN)/pytest tests/properties -n 2 $(PYTEST_ARGS)

soak: $(BIN)/.installed
	HYPOTHESIS_PROFILE=soak $(BIN)/pytest tests/properties -n 2 $(PYTEST_ARGS)

validate: $(BIN)/.installed
	$(BIN)/sam validate --lint --template template.yaml
	$(BIN)/cfn-lint -t template.yaml -a cfn_lint_serverless.rules

build: $(BIN)/.installed
	$(BIN)/sam build --template template.yaml --build-dir .aws-sam/build

# checkov on the template CloudFormation receives (expanded by the SAM translator), not on the SAM shorthand. checkov
# evaluates conditions with the parameters' defaults, so it scans twice: with the defaults, and with every optional
# resource turned on. Each suppression is in template.yaml, on its resource, with its reason. --skip-download: no
# network (the check IDs and names are local; only guideline links are left out).
CHECKOV_DIR := .aws-sam/checkov
checkov: $(BIN)/.installed
	$(BIN)/python -m tests.integration.transformed_template $(CHECKOV_DIR)/defaults.json
	$(BIN)/python -m tests.integration.transformed_template $(CHECKOV_DIR)/all-options.json \
		LifecycleHookMode=true CreateDashboard=true AlarmEmail=alarms@example.com TargetOwnerAccountId=210987654321 \
		TargetPool=prod AuditAccountId=444455556666 GuardDutyMinSeverity=7 AttachEventsFromCloudTrail=true \
		MirrorSelectors=eks:cluster-name=prod
	$(BIN)/checkov --quiet --compact --skip-download --framework cloudformation \
		--file $(CHECKOV_DIR)/defaults.json --file $(CHECKOV_DIR)/all-options.json

# Deploy: build, then `sam deploy` with samconfig.toml's environment CONFIG_ENV (default, dev or prod): its stack
# name, capabilities, tags and saved parameter values, in the Region of the profile or the environment; no questions.
#   make deploy TARGET_IDS=tmt-0123456789abcdef0 ALARM_EMAIL=you@example.com
# passes exactly the values given on make's command line: TARGET_IDS (TargetIds), ALARM_EMAIL (AlarmEmail) and
# PARAMETERS='Key=value ...' (any other, in sam's --parameter-overrides format). Every other parameter takes its
# default on a first deploy and keeps its value on an update (sam sends UsePreviousValue for it). A variable from the
# environment is not passed (`eval "$(python -m simulation.server)"` exports a TARGET_IDS of its own). `make
# deploy-guided` asks for every parameter (proposing samconfig.toml's saved answers or the defaults, not the deployed
# stack's values) and saves the answers. DEPLOY_ARGS: more options for sam deploy.
CONFIG_ENV ?= default
DEPLOY_ARGS ?=
# The us-east-1 default above is for the offline tests: a deployment goes to the Region of the profile or the
# environment (or the one samconfig.toml saved), so that default is dropped unless the caller set it.
KEEP_REGION := $(if $(filter environment command line,$(origin AWS_DEFAULT_REGION)),,env -u AWS_DEFAULT_REGION)
DEPLOY_GIVEN := $(foreach name,TARGET_IDS ALARM_EMAIL PARAMETERS,$(if $(filter command line,$(origin $(name))),$(name)))
# A --parameter-overrides on sam's command line replaces the environment's saved parameter_overrides whole: the saved
# ones come first, then the given ones (the last value of a name wins), so dev and prod keep their settings.
define SAM_DEPLOY
import os, sys, tomllib
sam, environment, given, *options = sys.argv[1:]
config = tomllib.load(open("samconfig.toml", "rb")).get(environment, {}).get("deploy", {}).get("parameters")
if config is None:
    sys.exit(f"CONFIG_ENV={environment}: samconfig.toml has no [{environment}.deploy.parameters]")
saved = config.get("parameter_overrides", [])
names = {"TARGET_IDS": "TargetIds", "ALARM_EMAIL": "AlarmEmail"}
values = [f'{names[n]}="' + os.environ[n].replace('"', '\\"') + '"' for n in given.split() if n in names]
values += [os.environ["PARAMETERS"]] if "PARAMETERS" in given.split() and os.environ["PARAMETERS"].strip() else []
overrides = ["--parameter-overrides", *([saved] if isinstance(saved, str) else saved), *values] if values else []
os.execv(sam, [sam, "deploy", "--config-env", environment, *overrides, *options])
endef
export SAM_DEPLOY
deploy: build
	$(KEEP_REGION) $(BIN)/python -c "$$SAM_DEPLOY" $(BIN)/sam $(CONFIG_ENV) "$(DEPLOY_GIVEN)" $(DEPLOY_ARGS)

deploy-guided: build
	$(KEEP_REGION) $(BIN)/python -c "$$SAM_DEPLOY" $(BIN)/sam $(CONFIG_ENV) "$(DEPLOY_GIVEN)" --guided $(DEPLOY_ARGS)

# One template for every account and Region of an organization (docs/organization.md). A StackSet with
# service-managed permissions refuses a template with a transform, AWS::Serverless included, so this expands the one
# `sam package` wrote (STACKSET_PACKAGED) offline with the SAM translator, as `sam validate` does, given no parameter
# value: every stack name and Region stays for each stack to resolve. Lambda reads code only from a bucket in its own
# Region: the code of every function and of the layer moves to the bucket <ARTIFACT_BUCKET_PREFIX>-<Region of the
# stack>, with the keys `sam package` chose (copy its objects to each Region's bucket).
STACKSET_PACKAGED ?= .aws-sam/packaged.yaml
STACKSET_TEMPLATE ?= .aws-sam/stackset.json
define EXPAND_FOR_STACKSET
import json, re, sys
from pathlib import Path
from samtranslator.translator.transform import transform
from simulation.eventbridge import load_template

class NoManagedPolicies:  # the template names its managed policies by ARN
    def load(self):
        return {}

packaged, out, prefix = sys.argv[1:]
if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,46}", prefix):  # bucket names: 63 characters with "-<Region>"
    sys.exit(f"ARTIFACT_BUCKET_PREFIX {prefix!r}: lower-case letters, digits, dots and hyphens, 2 to 47 of them")
template = transform(load_template(packaged), {}, NoManagedPolicies())
code = {"AWS::Lambda::Function": "Code", "AWS::Lambda::LayerVersion": "Content"}
for resource in template["Resources"].values():
    if resource["Type"] in code:
        resource["Properties"][code[resource["Type"]]]["S3Bucket"] = {"Fn::Sub": prefix + "-$${AWS::Region}"}
Path(out).parent.mkdir(parents=True, exist_ok=True)
Path(out).write_text(json.dumps(template, indent=1, sort_keys=True) + "\n", encoding="utf-8")
print(f"{out}: {Path(out).stat().st_size:,} bytes; code from s3://{prefix}-<Region>")
endef
export EXPAND_FOR_STACKSET
stackset-template: $(BIN)/.installed
	@test -n "$(ARTIFACT_BUCKET_PREFIX)" || { echo "usage: make stackset-template ARTIFACT_BUCKET_PREFIX=<prefix>" >&2; exit 2; }
	@$(BIN)/python -c "$$EXPAND_FOR_STACKSET" $(STACKSET_PACKAGED) $(STACKSET_TEMPLATE) $(ARTIFACT_BUCKET_PREFIX)

# Every figure of docs/benchmarks.md, measured again (under 10 minutes): bench/results.json, docs/benchmarks.md and
# docs/benchmarks-reconcile.png. bench-check (part of test) runs the same code at toy sizes, without sam build or plot.
# Mutation testing of planner, placement, eligibility and executor (mutmut, on a copy under build/mutation): prints
# killed/survived/score per module and the survivors; about 4 minutes on 2 cores. Not part of `make test`.
mutation: $(BIN)/.installed
	$(BIN)/python -m bench.mutation $(MUTATION_ARGS)

bench: $(BIN)/.installed
	$(BIN)/python -m bench.run

bench-check: $(BIN)/.installed
	$(BIN)/pytest tests/bench $(PYTEST_ARGS)

lock: $(BIN)/.installed
	$(BIN)/uv pip compile requirements-dev.in -o requirements-dev.txt --python-version 3.11 --no-header

clean:
	rm -rf $(VENV) .aws-sam .mypy_cache .ruff_cache .pytest_cache
