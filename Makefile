# Entry points. Everything installs what it needs itself (as root on Debian).
SUITE   ?= bookworm
COMPUTE ?= 2
# The virtualenv lives outside the checkout so that fresh clones (CI) reuse it.
VENV    ?= /var/cache/aiinfra-slurm/venv
PY      := $(VENV)/bin/python
BIN     := $(VENV)/bin
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
LAB_ID  ?= 0
export LAB_ID
INVENTORY := inventories/$(if $(filter 0,$(LAB_ID)),lab,lab$(LAB_ID))/hosts.yml

.PHONY: lab lab-down deploy test unit lint integration molecule bench venv build-tree clean

## make lab: boot the lab machines (pure) and deploy a Slurm cluster onto them.
lab: venv build-tree
	lab/lab up --suite $(SUITE) --compute $(COMPUTE)
	$(BIN)/ansible-playbook -i $(INVENTORY) playbooks/site.yml

lab-down:
	lab/lab down

## make test: unit tests, lint, then the lab tests on bookworm and trixie.
test: unit lint integration molecule

unit: venv build-tree
	cd .build/ansible_collections/aiinfra/slurm && PYTHONPATH=$(CURDIR)/.build $(PY) -m pytest -q -p no:cacheprovider tests/unit

lint: venv build-tree
	$(BIN)/ansible-lint --profile production roles playbooks

integration: venv build-tree
	$(PY) -m pytest -q -p no:cacheprovider tests/integration --suite bookworm
	$(PY) -m pytest -q -p no:cacheprovider tests/integration --suite trixie

molecule: venv build-tree
	cd extensions && $(BIN)/molecule test -s default

bench: venv build-tree
	$(PY) bench/deploy.py --suite $(SUITE) --compute $(COMPUTE)

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
