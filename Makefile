# The README's two commands. Both set everything up first (idempotent, see scripts/setup_env.sh).
VENV ?= .venv
PY := $(VENV)/bin/python
export MUJOCO_GL ?= egl
export PYOPENGL_PLATFORM ?= egl

.PHONY: setup test lint demo bench clean small-model sim-eval calibrate

setup:
	@bash scripts/setup_env.sh

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: lint
	$(PY) -m pytest

demo: setup
	$(PY) -m vjepa2_ros.shell.demo

bench: setup
	$(PY) bench/model.py

clean:
	rm -rf $(VENV) build *.egg-info runs

# The committed small model from scratch (README "Training the small model"): two synchronous
# sim collectors in parallel (they mostly wait for the arm), then post-training of the predictor
# on the frozen, seeded random `small` encoder (config/train_small.yaml); exports
# models/vjepa2-ac-small.pt.
SMALL_EPISODES ?= 36
small-model: setup
	rm -rf runs/collect_sim runs/train_small
	$(PY) -m vjepa2_ros.train.collect_sim --episodes $(SMALL_EPISODES) --steps 40 --seed 1000 --host 127.0.0.70 --out runs/collect_sim & p1=$$!; \
	$(PY) -m vjepa2_ros.train.collect_sim --episodes $(SMALL_EPISODES) --steps 40 --seed 1100 --host 127.0.0.71 --out runs/collect_sim & p2=$$!; \
	wait $$p1 && wait $$p2
	$(PY) -m vjepa2_ros.train.cli --config config/train_small.yaml --export models/vjepa2-ac-small.pt

# Held-out seeds 700-719 (never used for training, calibration or tuning): reach on the core and
# through the node graph, pick-place on the core, and the energy landscape.
SIM_EVAL := $(PY) -m vjepa2_ros.shell.sim_eval_cli
sim-eval: setup
	$(SIM_EVAL) --task reach --episodes 20 --seed 700 --budget fast --out runs/sim_eval
	$(SIM_EVAL) --task reach --episodes 20 --seed 700 --budget fast --graph --out runs/sim_eval
	$(SIM_EVAL) --task pick-place --episodes 20 --seed 700 --budget fast --out runs/sim_eval
	$(SIM_EVAL) --landscape --out runs/sim_eval

# The committed model's arrival rule (models/<checkpoint>.arrival.yaml) from reach episodes on
# calibration seeds 100-139 that keep planning 3 cycles after reaching the goal.
calibrate: setup
	$(SIM_EVAL) --task reach --episodes 40 --seed 100 --budget fast --dwell-cycles 3 --out runs/calibration
	$(PY) -m vjepa2_ros.evaluation.calibrate runs/calibration/reach_fast.json --checkpoint models/vjepa2-ac-small.pt
