# Two entry points do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUNDLE := src/neuroblocks/static/neuroblocks.js
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Jupyter refuses to run as root (containers, CI images) unless told it may.
ALLOW_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: demo test test-js test-python install chromium screenshots bench-deps clean

## demo: install, then open the gallery notebook in JupyterLab (offline shapes model unless given a photo)
demo: install
	$(VENV)/bin/jupyter lab $(ALLOW_ROOT) notebooks/gallery.ipynb

## test: install, then run every test: JS, Python (the built wheel installed outside the checkout
## included), and browser tests in Chromium. It leaves `git status` as it found it.
test: install chromium test-js test-python

test-js: js/node_modules/.package-lock.json
	cd js && npm test

test-python: install
	$(PY) -m pytest

# The bundle first: the package's build hook then finds it current and does not build it again.
install: $(BUNDLE) $(VENV)/.installed

# torch and torchvision are pinned here, before the package, so pip never picks other builds.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e '.[test,demo,atlas,timm,transformers,ray]'
	touch $@

js/node_modules/.package-lock.json: js/package.json js/package-lock.json
	cd js && npm ci --no-audit --no-fund

$(BUNDLE): js/node_modules/.package-lock.json $(wildcard js/src/*.js js/src/*.css js/src/views/*.js)
	cd js && npm run build

## screenshots: redraw the README's pictures (docs/screenshots/) from the current code
screenshots: install chromium
	$(PY) -m pytest tests/browser/test_gallery.py -k lab --screenshots docs/screenshots

# Browser tests drive Debian's Chromium (Playwright cannot download browsers here).
chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }

## bench-deps: the peers the benchmarks measure against (Captum is already a test dependency).
# Lucent 0.1.8 pins kornia<=0.4.1, which today's torch cannot run; it works on current kornia
# with two aliases (benchmarks/featurevis.py sets them), so it is installed without its pins.
bench-deps: install
	$(PY) -m pip install --quiet kornia tqdm decorator
	$(PY) -m pip install --quiet --no-deps torch-lucent==0.1.8

clean:
	rm -rf $(VENV) js/node_modules src/neuroblocks/static
