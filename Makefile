# The README's two commands. Both set everything up first (idempotent, see scripts/setup_env.sh).
VENV ?= .venv
PY := $(VENV)/bin/python
export MUJOCO_GL ?= egl
export PYOPENGL_PLATFORM ?= egl

.PHONY: setup test lint demo bench clean

setup:
	@bash scripts/setup_env.sh

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: lint
	$(PY) -m pytest

demo: setup
	$(PY) -m vjepa2_ros.demo

bench: setup
	$(PY) bench/model.py

clean:
	rm -rf $(VENV) build *.egg-info runs
