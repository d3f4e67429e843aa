#!/usr/bin/env bash
# Set up RepNet Live on Debian or Ubuntu: the system libraries Open3D and MediaPipe load, a
# virtual environment in .venv, the pinned Python packages and the project itself (editable, so
# that run_demo.py, the `repnet-live` command and the scripts import app, core, models, export and
# evaluation from this checkout). Safe to run again.
#   bash scripts/setup.sh          # what the demo needs (requirements.txt: no torch)
#   bash scripts/setup.sh --dev    # everything (requirements-dev.txt): plus training, export and evaluation
#                                  # (requirements-train.txt), Ray (requirements-ray.txt), the test tools and Xvfb
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1

missing=()
have_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
have_lib libusb-1.0.so.0 || missing+=(libusb-1.0-0)   # open3d links it
have_lib libGL.so.1 || missing+=(libgl1)                # open3d, opencv
have_lib libEGL.so.1 || missing+=(libegl1)              # open3d's headless rendering
have_lib libgomp.so.1 || missing+=(libgomp1)            # open3d (and torch, for training)
if [ "$dev" = 1 ]; then
  command -v Xvfb >/dev/null || missing+=(xvfb xauth)   # the viewer tests render on a virtual screen
fi
python3 -c "import venv, ensurepip" 2>/dev/null || missing+=(python3-venv)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
    echo "setup: missing system packages: ${missing[*]} (install them as root: apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "setup: installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python3 - <<'PY' || { echo "setup: Python 3.9 to 3.12 is needed (mediapipe 0.10.21 has wheels for those)" >&2; exit 1; }
import sys
sys.exit(0 if (3, 9) <= sys.version_info[:2] <= (3, 12) else 1)
PY

[ -x .venv/bin/python ] || python3 -m venv .venv
requirements=requirements.txt
[ "$dev" = 1 ] && requirements=requirements-dev.txt
.venv/bin/python -m pip install -q --disable-pip-version-check -r "$requirements" -e .
echo "setup: ready (.venv)"
