# Entry points. Everything installs what it needs itself (as root on Debian).
SUITE   ?= bookworm
COMPUTE ?= 2
# Execution strategy of `make bench`: linear, free or mitogen_linear.
STRATEGY ?= linear
# The virtualenv lives outside the checkout so that fresh clones (CI) reuse it.
VENV    ?= /var/cache/aiinfra-slurm/venv
PY      := $(VENV)/bin/python
BIN     := $(VENV)/bin
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
LAB_ID  ?= 0
export LAB_ID
INVENTORY := inventories/$(if $(filter 0,$(LAB_ID)),lab,lab$(LAB_ID))/hosts.yml

.PHONY: lab lab-down test unit lint sanity integration artifact ee molecule bench bench-scale bench-rest bench-scale-deploy venv build-tree clean

## make lab: boot the lab machines (pure) and deploy a Slurm cluster onto them.
lab: venv build-tree
	lab/lab up --suite $(SUITE) --compute $(COMPUTE)
	$(BIN)/ansible-playbook -i $(INVENTORY) playbooks/site.yml

lab-down:
	lab/lab down

## make test: lint, sanity (ansible-test sanity and units: the unit tests run once, there), then the
## lab tests on bookworm and trixie. `make unit` is the quick pytest run of the same unit tests.
test: lint sanity ee integration molecule

unit: venv build-tree
	cd .build/ansible_collections/aiinfra/slurm && PYTHONPATH=$(CURDIR)/.build $(PY) -m pytest -q -p no:cacheprovider tests/unit

lint: venv build-tree
	$(BIN)/ansible-lint

# ansible-test wants a real ansible_collections/aiinfra/slurm tree (no symlink):
# a copy of the tracked files. It bootstraps pip from a host outside the
# package registries; tests/sanity/get_pip_offline.py does that job offline.
SANITY_TREE := .build/sanity/ansible_collections/aiinfra/slurm
ANSIBLE_TEST_PIP := 24_2
sanity: venv
	# shellcheck (a Debian package) checks lab/lab; without it ansible-test skips that test.
	command -v shellcheck >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q shellcheck || \
	  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q shellcheck; }
	rm -rf .build/sanity && mkdir -p $(SANITY_TREE)
	git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C $(SANITY_TREE)
	# A repository of its own, or ansible-test sees the ignored .build of this one.
	cd $(SANITY_TREE) && git init -q && git add -A
	mkdir -p $(HOME)/.ansible/test/cache
	cp tests/sanity/get_pip_offline.py $(HOME)/.ansible/test/cache/get_pip_$(ANSIBLE_TEST_PIP).py
	cd $(SANITY_TREE) && $(BIN)/ansible-test sanity --python 3.11 --color no
	cd $(SANITY_TREE) && $(BIN)/ansible-test units --venv --python 3.11 --color no

# One fresh lab per Slurm version, shared by every test file: deploy from pure
# machines, the modules with both backends, day-2 playbooks, faults, and last the
# uninstall. In this order: the first test looks at the machines before the deploy.
# The two suites run at the same time on labs LAB_ID and LAB_ID+1 (mod 10): most of
# a lab test is waiting for daemons, so two share the cores well. Each suite's
# output goes to .build/integration-SUITE.log and is shown when both are done, with
# the slowest tests (--durations), since time is what CI is short of.
SUITES ?= bookworm trixie
INTEGRATION_TESTS := $(addprefix tests/integration/,test_deploy.py test_ids.py test_modules.py test_strategies.py test_inventory.py \
  test_awx_credential.py test_rest_tls.py test_accounting.py test_day2.py test_keys.py test_faults.py test_secrets.py \
  test_rolling.py test_firewall.py test_membership.py test_external.py test_openrc.py test_uninstall.py)
integration: venv build-tree
	@id=$(LAB_ID); pids=""; for suite in $(SUITES); do \
	  echo "integration: $$suite on lab $$id, log .build/integration-$$suite.log"; \
	  LAB_ID=$$id $(PY) -m pytest -q -p no:cacheprovider --durations=25 $(INTEGRATION_TESTS) --suite $$suite \
	    >.build/integration-$$suite.log 2>&1 & pids="$$pids $$!"; id=$$(( (id + 1) % 10 )); done; \
	rc=0; for pid in $$pids; do wait $$pid || rc=1; done; \
	for suite in $(SUITES); do echo "===== $$suite"; cat .build/integration-$$suite.log; done; exit $$rc

# The collection as users get it: built, then installed offline into a clean path.
artifact: venv
	rm -rf .build/dist .build/installed
	$(BIN)/ansible-galaxy collection build --output-path .build/dist
	$(BIN)/ansible-galaxy collection install --offline --force -p .build/installed .build/dist/aiinfra-slurm-*.tar.gz

# Build context of the execution environment (extensions/ee), with the artifact.
ee: artifact
	rm -rf .build/ee
	cp .build/dist/aiinfra-slurm-*.tar.gz extensions/ee/aiinfra-slurm.tar.gz
	$(BIN)/ansible-builder create -f extensions/ee/execution-environment.yml -c .build/ee --output-filename Containerfile
	rm -f extensions/ee/aiinfra-slurm.tar.gz
	grep -q '^openssh-client \[platform:dpkg\]' .build/ee/_build/bindep.txt
	test -f .build/ee/_build/collections/aiinfra-slurm.tar.gz

# The molecule scenario deploys the lab from the installed artifact, not the tree.
molecule: artifact
	cd extensions && ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/.build/installed $(BIN)/molecule test -s default

bench: venv build-tree
	$(PY) bench/deploy.py --suite $(SUITE) --compute $(COMPUTE) --strategy $(STRATEGY)

bench-scale: venv build-tree
	$(PY) bench/scale.py --suite $(SUITE)

bench-rest: venv build-tree
	$(PY) bench/rest_vs_cli.py --suite $(SUITE)

# 1 controller + 100 compute machines (COMPUTE=100 by default here): minutes, not part of make test.
bench-scale-deploy: venv build-tree
	$(PY) bench/scale_deploy.py --suite $(SUITE) --compute $(if $(filter 2,$(COMPUTE)),100,$(COMPUTE))

# Reinstalled only when requirements.txt differs from what the venv was made from.
venv:
	@cmp -s requirements.txt $(VENV)/.installed || { \
	  test -x $(PY) || python3 -m venv $(VENV); \
	  $(PY) -m pip install -q --upgrade pip && \
	  $(PY) -m pip install -q -r requirements.txt && \
	  cp requirements.txt $(VENV)/.installed; }

# ansible and ansible-test find the collection as ansible_collections/aiinfra/slurm.
build-tree:
	mkdir -p .build/ansible_collections/aiinfra
	ln -sfn ../../.. .build/ansible_collections/aiinfra/slurm

clean:
	rm -rf .build
