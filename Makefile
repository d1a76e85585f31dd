# The README's two commands. Both set everything up first (idempotent, see scripts/setup_env.sh).
VENV ?= .venv
PY := $(VENV)/bin/python
export MUJOCO_GL ?= egl
export PYOPENGL_PLATFORM ?= egl

.PHONY: setup test lint demo bench bench-gpu bench-gpu-dry clean small-model sim-eval

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
	wait $$p1 && wait $$p2
	$(PY) -m vjepa2_ros.train.cli --config config/train_small.yaml --export models/vjepa2-ac-small.pt

# Reach over 20 seeded episodes and pick-place over 10 with the committed small model.
sim-eval: setup
	$(PY) -m vjepa2_ros.evaluation.sim_cli --task reach --episodes 20 --budget fast --out runs/sim_eval
	$(PY) -m vjepa2_ros.evaluation.sim_cli --task pick-place --episodes 10 --budget fast --out runs/sim_eval
	$(PY) -m vjepa2_ros.evaluation.sim_cli --landscape --out runs/sim_eval
