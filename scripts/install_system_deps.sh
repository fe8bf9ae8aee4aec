#!/usr/bin/env bash
# Install the Debian/Ubuntu packages Daka builds and runs with, only those that are missing.
# Used by `make run` / `make test`; the device installer (flash_and_setup.sh) does more.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libdlib-dev libopenblas-dev libopenblas0-pthread liblapack-dev libblas-dev
  libjpeg-dev libpng-dev libfreetype-dev libharfbuzz-dev libsqlite3-dev fonts-wqy-microhei
  libgl1 libegl1 libgles2 libgl1-mesa-dri libmtdev1
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
)
# Test-only packages (PostgreSQL for the store tests, Chromium for the admin's browser tests, the
# installer's test tools) are passed as arguments by `make test`, so neither `make run` nor the
# device installer puts them on a terminal.

# node and npm fetch the faceres model from the npm registry and run TensorFlow.js to verify its
# conversion. A node that ships its own npm (NodeSource) is kept: Debian's npm would conflict.
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

# Arguments (flash_and_setup.sh passes them; `make` passes none): more packages to install,
# OLD=NEW to use another name on an older release, --print-missing to list what is missing,
# --no-python when the caller brings its own Python (JetPack 4.6 / 5 have no 3.11 packages).
print_missing=0
want_python=1
for arg in "$@"; do
  case $arg in
    --print-missing) print_missing=1 ;;
    --no-python) want_python=0 ;;
    *=*) for i in "${!packages[@]}"; do
           if [[ ${packages[i]} == "${arg%%=*}" ]]; then packages[i]=${arg#*=}; fi
         done ;;
    *) packages+=("$arg") ;;
  esac
done

# A Python >= 3.11 with venv and headers: the system one on Debian 12 / Ubuntu 24.04,
# python3.11 from the archive on Ubuntu 22.04.
have_python=""
for py in python3.13 python3.12 python3.11 python3; do
  if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    have_python="$py"; break
  fi
done
if ((want_python)) && [[ -z "$have_python" || "$(command -v "$have_python")" == /usr/bin/* ]]; then
  ver=3
  if [[ -z "$have_python" ]]; then ver=3.11; fi
  packages+=("python${ver}" "python${ver}-venv" "python${ver}-dev")
fi

# dlib's reference descriptor path calls libblas.so.3: it must resolve to OpenBLAS (netlib's
# reference BLAS is ~3x slower than no BLAS at all). Debian's alternatives pick OpenBLAS by
# priority once it is installed; a system set by hand to netlib is put back, loudly.
select_openblas() {
  local arch name current wanted
  arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo "$(uname -m)-linux-gnu")
  for name in libblas.so.3 liblapack.so.3; do
    current=$(update-alternatives --query "$name-$arch" 2>/dev/null | sed -n 's/^Value: //p')
    wanted=$(update-alternatives --list "$name-$arch" 2>/dev/null | grep -m1 openblas || true)
    if [[ -n "$wanted" && "$current" != "$wanted" ]]; then
      echo "system packages: selecting OpenBLAS for $name (was ${current:-unset})" >&2
      $sudo update-alternatives --set "$name-$arch" "$wanted" >&2
    fi
  done
}

sudo=""
if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null; then sudo="sudo"; fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [[ "$status" == ii* ]] || missing+=("$p")
done
if ((print_missing)); then
  if ((${#missing[@]})); then printf '%s\n' "${missing[@]}"; fi
  exit 0
fi
if ((${#missing[@]} == 0)); then
  echo "system packages: all present" >&2
  select_openblas
  exit 0
fi

if [[ $(id -u) -ne 0 && -z "$sudo" ]]; then
  echo "error: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi
echo "system packages: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
select_openblas
