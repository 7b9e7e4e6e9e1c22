# The two commands: `make demo` and `make test`. Both install what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/ensure-java.sh scripts/ensure-chromium.sh
	bash scripts/ensure-java.sh
	bash scripts/ensure-chromium.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

demo: install
	$(BIN)/corridor demo

test: install
	$(BIN)/python -m pytest -q
