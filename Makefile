# The README's two commands. Both set everything up first (idempotent, see scripts/setup_env.sh).
VENV ?= .venv
PY := $(VENV)/bin/python
export MUJOCO_GL ?= egl
export PYOPENGL_PLATFORM ?= egl

.PHONY: setup test lint demo bench bench-gpu bench-gpu-dry clean small-model sim-eval calibrate

setup:
	@bash scripts/setup_env.sh

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports --no-cache   # the core/shell contracts in pyproject.toml

test: lint
	$(PY) -m pytest

# `make demo`: reach (config/demo.yaml); `make demo DEMO=pick_place`: config/demo_pick_place.yaml.
DEMO ?=
demo: setup
	$(PY) -m vjepa2_ros.shell.demo --config demo$(if $(DEMO),_$(DEMO),).yaml

bench: setup
	$(PY) bench/model.py

# The GPU fast path's numbers (README "GPU fast path"): the machine's own Python with CUDA torch,
# no venv, no ROS, no network; wheels in .whl/ (torchao for FP8) are unpacked beside it.
BENCH_GPU_OUT ?= runs/bench_gpu
bench-gpu:
	bash scripts/bench_gpu.sh $(BENCH_GPU_OUT) $(BENCH_GPU_ARGS)

# The same sections on the CPU with the small preset and small budgets (a few minutes).
bench-gpu-dry: setup
	$(PY) bench/gpu.py --dry-run --out runs/bench_gpu_dry $(BENCH_GPU_ARGS)

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
	trap 'kill $$p1 $$p2 2>/dev/null' EXIT; \
	wait $$p1 && wait $$p2
	$(PY) -m vjepa2_ros.train.cli --config config/train_small.yaml --export models/vjepa2-ac-small.pt

# Held-out seeds 700-719 (never used for training, calibration or tuning): reach on the core and
# through the node graph, pick-place on the core and through the graph, and the energy landscape.
SIM_EVAL := $(PY) -m vjepa2_ros.shell.sim_eval_cli
sim-eval: setup
	$(SIM_EVAL) --task reach --episodes 20 --seed 700 --budget fast --out runs/sim_eval
	$(SIM_EVAL) --task reach --episodes 20 --seed 700 --budget fast --graph --out runs/sim_eval
	$(SIM_EVAL) --task pick-place --episodes 20 --seed 700 --budget fast --out runs/sim_eval
	$(SIM_EVAL) --task pick-place --episodes 20 --seed 700 --budget fast --graph --out runs/sim_eval
	$(SIM_EVAL) --landscape --out runs/sim_eval

# The committed model's arrival rule (models/<checkpoint>.arrival.yaml) from reach episodes on
# calibration seeds 100-119 that keep planning 3 cycles after reaching the goal.
calibrate: setup
	$(SIM_EVAL) --task reach --episodes 20 --seed 100 --budget fast --dwell-cycles 3 --out runs/calibration
	$(PY) -m vjepa2_ros.evaluation.calibrate runs/calibration/reach_fast.json --checkpoint models/vjepa2-ac-small.pt
