#!/usr/bin/env bash
# Idempotent set-up of everything `make test` and `make demo` need, inside the repo:
#   - Debian packages for headless MuJoCo rendering (EGL), installed when missing (needs root);
#   - a project-local .venv with the pinned packages of requirements.lock (ROS 2 Kilted wheels,
#     CPU torch, MuJoCo, franky, rosbags, ...) and this package installed editable.
# A second run with nothing changed returns in about a second (a stamp records what was set up).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
TORCH_CPU_INDEX=${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
EGL_PACKAGES=(libegl1 libegl-mesa0 libgl1-mesa-dri libgles2)

say() { printf '[setup] %s\n' "$*"; }

missing_debs() {
  local missing=()
  for pkg in "${EGL_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  echo "${missing[@]:-}"
}

if command -v dpkg-query >/dev/null 2>&1; then
  missing=$(missing_debs)
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
      say "installing Debian packages for headless rendering: $missing"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
    else
      say "ERROR: headless MuJoCo rendering needs these Debian packages: $missing"
      say "       install them as root:  sudo apt-get install -y $missing   then run make again."
      exit 1
    fi
  fi
else
  say "not a Debian system: make sure EGL (libEGL + Mesa or NVIDIA) is installed for MuJoCo rendering"
fi

# The ROS 2 launch stack for tests on machines without ROS (../shared/ros-launch, README there):
# installed only where the folder exists; the launch tests skip with the reason elsewhere.
ROS_LAUNCH=${ROS_LAUNCH:-../shared/ros-launch}
ROS_LAUNCH_PACKAGES=(launch launch_ros launch_testing launch_testing_ros launch_xml launch_yaml
  ros2cli ros2launch ros2pkg ros2node ros2topic composition_interfaces)
launch_stack="none"
[ -d "$ROS_LAUNCH" ] && launch_stack=$(ls "$ROS_LAUNCH"/*.whl 2>/dev/null | sort | sha256sum | cut -d' ' -f1)

stamp="$VENV/.vjepa2_ros-setup"
# The stamp covers everything that decides what is installed: the pins, the set-up itself, the
# torch choice (TORCH_SPEC: a CUDA build after a CPU set-up) and the launch stack.
want=$( (cat requirements.lock setup.py scripts/setup_env.sh; echo "torch=${TORCH_SPEC:-lock}"; \
  echo "launch=$launch_stack") | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" - <<'PY' || { say "ERROR: Python 3.10-3.12 is required (ROS 2 Jazzy/Kilted wheels)"; exit 1; }
import sys
sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 12) else 1)
PY
  say "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
pip=("$VENV/bin/python" -m pip --disable-pip-version-check)

# torch first and always the CPU build unless TORCH_SPEC says otherwise: a plain `torch`
# requirement would pull a multi-GB CUDA build onto a CPU machine.
torch_spec=$(grep -E '^torch==' requirements.lock)
torch_spec=${TORCH_SPEC:-$torch_spec}
if ! "$VENV/bin/python" -c "import torch, sys; sys.exit(torch.__version__ != '${torch_spec#torch==}')" 2>/dev/null; then
  say "installing $torch_spec"
  "${pip[@]}" install -q "$torch_spec" 2>/dev/null \
    || "${pip[@]}" install -q --index-url "$TORCH_CPU_INDEX" "$torch_spec"
fi

say "installing pinned packages (requirements.lock)"
grep -v -E '^torch==' requirements.lock > "$VENV/.requirements-no-torch.txt"
"${pip[@]}" install -q -r "$VENV/.requirements-no-torch.txt"
if [ "$launch_stack" != "none" ]; then
  say "installing the ROS 2 launch stack from $ROS_LAUNCH (tests)"
  "${pip[@]}" install -q --no-index --no-deps --find-links "$ROS_LAUNCH" "${ROS_LAUNCH_PACKAGES[@]}"
  "${pip[@]}" install -q osrf-pycommon==2.0.2 psutil==7.2.2 argcomplete==3.7.2
fi
say "installing vjepa2_ros (editable)"
"${pip[@]}" install -q --no-deps --no-build-isolation -e .
echo "$want" > "$stamp"
say "done: $VENV ready"
