# The README's two commands. Each sets itself up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PIP = $(VENV)/bin/pip
PY = $(VENV)/bin/python

.PHONY: demo test test-all setup bench clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q -c constraints.txt -e ".[test,plot,lab]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/losslab demo

# Two pytest-xdist workers (one per core): every test file plus the docstring examples.
test: setup
	$(PY) -m pytest -q -n 2 --doctest-modules src tests

# Also the tests marked slow and the inductor compile sweep over every loss (compile_all):
# beyond CI's 10-minute budget on 2 cores.
test-all: setup
	$(PY) -m pytest -q -n 2 --doctest-modules -m "" src tests

bench: setup
	$(PY) benchmarks/bench_matching.py

clean:
	rm -rf $(VENV) report build *.egg-info
