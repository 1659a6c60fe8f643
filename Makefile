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

# The demo's runs go to monge-results.sqlite (reused when they are already there: `monge bench --rerun` trains
# them again), the plots and the fitted maps to monge-demo/, and the HTML report (2-D maps included) to
# monge-demo/report.html.
demo: install
	$(VENV)/bin/monge bench --preset quick --out monge-demo --keep-results monge-demo/results
	$(VENV)/bin/monge report --out monge-demo/report.html

test: install-test
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info monge-demo monge-results.sqlite
