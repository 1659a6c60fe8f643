# The README's two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip
TORCH_PIN ?= torch==2.13.0

.PHONY: demo test venv install install-test clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# The CPU wheel of torch is installed first so that the package's `torch>=2.2`
	# range is already satisfied (a bare requirement would pull a multi-GB CUDA build).
	$(PIP) install --quiet "$(TORCH_PIN)"

venv: $(PY)

install: $(PY)
	$(PIP) install --quiet -e .

install-test: $(PY)
	$(PIP) install --quiet -e ".[test]"
	# Headless Chromium for the HTML report's browser test (apt, when root; skipped otherwise).
	bash .ci/ensure-chromium

demo: install
	$(VENV)/bin/monge bench --preset quick --out monge-demo

test: install-test
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info monge-demo monge-results.sqlite
