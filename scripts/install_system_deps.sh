#!/usr/bin/env bash
# Install the Debian/Ubuntu packages Daka builds and runs with, only those that are missing.
# Used by `make run` / `make test`; the device installer (flash_and_setup.sh) does more.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libdlib-dev libopenblas-dev libopenblas0-pthread liblapack-dev libblas-dev
  libjpeg-dev libpng-dev libfreetype-dev libharfbuzz-dev fonts-wqy-microhei
  libgl1 libegl1 libgles2 libgl1-mesa-dri libmtdev1
)

# A Python >= 3.11 with venv and headers: the system one on Debian 12 / Ubuntu 24.04,
# python3.11 from the archive on Ubuntu 22.04.
have_python=""
for py in python3.13 python3.12 python3.11 python3; do
  if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    have_python="$py"; break
  fi
done
if [[ -z "$have_python" || "$(command -v "$have_python")" == /usr/bin/* ]]; then
  ver=3
  if [[ -z "$have_python" ]]; then ver=3.11; fi
  packages+=("python${ver}" "python${ver}-venv" "python${ver}-dev")
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [[ "$status" == ii* ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "system packages: all present" >&2
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "error: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "system packages: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
