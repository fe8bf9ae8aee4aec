#!/usr/bin/env bash
# Daka: from a freshly flashed SD card to a running kiosk, in one idempotent run.
#
#   sudo scripts/flash_and_setup.sh [--rotate 0|90|180|270] [--dry-run] [--uninstall] ...
#
# Every action is printed (and logged to /var/log/daka-setup.log); a second run changes nothing.
# Run from a clone of the repository: it is copied to /opt/daka/src and built there.
set -Eeuo pipefail

# (a --fleet-url's password never reaches the log)
ARGS=$(sed -E 's#(://[^:/@ ]+):[^@ ]*@#\1:***@#g' <<<"$*")
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TEMPLATES="$SCRIPT_DIR/setup"

# --- options -----------------------------------------------------------------------------------
ROOT=${DAKA_SETUP_ROOT:-/}       # the system to act on; another root only with --dry-run (tests)
DRY_RUN=0
UNINSTALL=0
PURGE=0
ROTATE=0
HEADLESS=0
SKIP_BUILD=0
SWAP_SIZE=auto
TIMEZONE=Asia/Shanghai
NTP_SERVERS="ntp.aliyun.com ntp.tencent.com cn.pool.ntp.org"
TOUCH_MATRIX=""
ONLY=""
USER_NAME=daka
SOURCE_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
LOG_FILE=""
ADMIN_PORT=8080
FLEET_URL=""
BOARD_OPTION=auto
CPU_OPTION=auto

APP_DIR=/opt/daka
INSTANCE_DIR=/var/lib/daka
SET_TIME=/usr/local/sbin/daka-set-time
SWAP_FILE=/swapfile
STEPS=(packages python user sudoers swap app units kiosk display journald time fleet firstrun)

usage() {
  cat <<EOF
Usage: $(basename "$0") [options]

Provision this board as a Daka terminal: packages, the '$USER_NAME' user, swap, the app in
$APP_DIR, systemd units, the kiosk session, the LCD, journald, time. Safe to re-run.

  --dry-run             print what would be done, change nothing
  --rotate DEG          screen and touch rotation: 0, 90, 180 or 270 (default 0)
  --touch-matrix "a b c d e f"   libinput calibration (first two rows) measured on the panel
  --headless            no kiosk session or display (a server or a PC without a screen)
  --swap SIZE           swap file size (e.g. 2G, 512M, 0 for none; default: by RAM)
  --timezone ZONE       time zone (default $TIMEZONE)
  --ntp "HOST ..."      NTP servers (default: $NTP_SERVERS)
  --fleet-url URL       join a fleet: this terminal's role on the central database, as
                        \`daka fleet add-terminal\` printed it (postgresql://...); written to
                        $INSTANCE_DIR/daka.toml [fleet] database_url (docs/fleet.md)
  --skip-build          copy the app but do not build its venv, native core and models
  --board NAME          the board when it cannot be detected (a chroot, an image made elsewhere):
                        raspberrypi, rk3588, arm64 (any other) or pc (default: detected)
  --cpu NAME            the CPU the native core is compiled for: a GCC -mcpu name (cortex-a76 ...),
                        native (the CPU that builds) or off (the baseline); default: the board's
  --only STEP[,STEP]    run only these steps: ${STEPS[*]}
  --uninstall           remove what this script installed (keeps $INSTANCE_DIR and the user)
  --purge               with --uninstall: also remove $INSTANCE_DIR and the user
  --source DIR          the Daka source tree to install (default: this script's repository)
  --root DIR            act on the system under DIR (only with --dry-run; env DAKA_SETUP_ROOT)
  --log FILE            log file (default /var/log/daka-setup.log; none with --dry-run)
  -h, --help            this help
EOF
}

die() { echo "error: $*" >&2; exit 1; }

while (($#)); do
  case $1 in
    --dry-run) DRY_RUN=1 ;;
    --uninstall) UNINSTALL=1 ;;
    --purge) PURGE=1 ;;
    --headless) HEADLESS=1 ;;
    --skip-build) SKIP_BUILD=1 ;;
    --board) BOARD_OPTION=${2-}; shift ;;
    --cpu) CPU_OPTION=${2-}; shift ;;
    --rotate) ROTATE=${2-}; shift ;;
    --touch-matrix) TOUCH_MATRIX=${2-}; shift ;;
    --swap) SWAP_SIZE=${2-}; shift ;;
    --timezone) TIMEZONE=${2-}; shift ;;
    --ntp) NTP_SERVERS=${2-}; shift ;;
    --fleet-url) FLEET_URL=${2-}; shift ;;
    --only) ONLY=${2-}; shift ;;
    --source) SOURCE_DIR=${2-}; shift ;;
    --root) ROOT=${2-}; shift ;;
    --log) LOG_FILE=${2-}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
  shift
done

case $ROTATE in 0|90|180|270) ;; *) die "--rotate must be 0, 90, 180 or 270, not '$ROTATE'" ;; esac
if [[ -n $TOUCH_MATRIX ]]; then
  read -r -a _m <<<"$TOUCH_MATRIX"
  ((${#_m[@]} == 6)) || die "--touch-matrix needs 6 numbers (a b c d e f), got ${#_m[@]}"
  for _v in "${_m[@]}"; do
    [[ $_v =~ ^-?[0-9]*\.?[0-9]+$ ]] || die "--touch-matrix: '$_v' is not a number"
  done
fi
case $BOARD_OPTION in auto|raspberrypi|rk3588|arm64|pc) ;;
  *) die "--board must be raspberrypi, rk3588, arm64 or pc, not '$BOARD_OPTION' (a Jetson is detected from /etc/nv_tegra_release)" ;;
esac
[[ $CPU_OPTION =~ ^[a-z0-9][a-z0-9.+-]*$ ]] || die "--cpu: not a CPU name: '$CPU_OPTION'"
[[ $SWAP_SIZE == auto || $SWAP_SIZE =~ ^[0-9]+[MG]?$ ]] || die "--swap must be like 2G, 512M or 0, not '$SWAP_SIZE'"
[[ $NTP_SERVERS =~ ^[A-Za-z0-9.:\ -]+$ ]] || die "--ntp: not a list of host names: '$NTP_SERVERS'"
[[ $TIMEZONE =~ ^[A-Za-z0-9_+/-]+$ && $TIMEZONE != *..* ]] || die "--timezone: not a zone name: '$TIMEZONE'"
# a TOML string as it is: no quote, backslash, space or control character to escape
[[ -z $FLEET_URL || $FLEET_URL =~ ^postgres(ql)?(\+psycopg)?://[^\"\\[:space:][:cntrl:]]+$ ]] \
  || die "--fleet-url: not a postgresql:// URL (without quotes, backslashes or spaces)"
if [[ -n $ONLY ]]; then
  IFS=, read -r -a _only <<<"$ONLY"
  for _s in "${_only[@]}"; do
    [[ " ${STEPS[*]} " == *" $_s "* ]] || die "--only: unknown step '$_s' (steps: ${STEPS[*]})"
  done
fi
ROOT=${ROOT%/}
[[ -z $ROOT || -d $ROOT ]] || die "--root $ROOT is not a folder"
if [[ -n $ROOT && $DRY_RUN -eq 0 ]]; then
  die "--root (or DAKA_SETUP_ROOT) is for --dry-run only; to prepare another system run this script inside it (chroot)"
fi
if ((DRY_RUN == 0)) && [[ $(id -u) -ne 0 ]]; then
  die "run as root: sudo $0 $ARGS"
fi

# --- output, log, change count -------------------------------------------------------------
CHANGES=0
CURRENT_STEP=setup
if ((DRY_RUN == 0)); then
  LOG_FILE=${LOG_FILE:-/var/log/daka-setup.log}
fi
if [[ -n $LOG_FILE ]]; then
  mkdir -p "$(dirname "$LOG_FILE")"
  # Root's eyes only: the log tells how the board is set up. The umask stays in the subshell: the
  # files the steps install carry their own modes and the venv must stay readable.
  (umask 077; : >>"$LOG_FILE")
  chmod 600 "$LOG_FILE"
  # Earlier versions printed the first administrator's password into this log: blank it out.
  sed -i 's|^\(  first login: *admin / \).*$|\1(removed: the password is only in /root/daka-first-run.txt)|' "$LOG_FILE"
  exec > >(tee -a "$LOG_FILE") 2>&1
  echo "=== $(date -u '+%Y-%m-%d %H:%M:%S UTC') flash_and_setup.sh $ARGS"
fi
ERROR_SEEN=$(mktemp)
on_error() {
  local rc=$? line=$1 cmd=$2
  # Report the innermost failure once (subshells inherit this trap).
  [[ -s $ERROR_SEEN ]] && exit "$rc"
  echo x >"$ERROR_SEEN"
  echo "error: step '$CURRENT_STEP' failed (exit $rc) at line $line: $cmd" >&2
  [[ -n $LOG_FILE ]] && echo "error: the full output is in $LOG_FILE" >&2
  exit "$rc"
}
trap 'on_error $LINENO "$BASH_COMMAND"' ERR
trap 'rm -f "$ERROR_SEEN"' EXIT

step() { CURRENT_STEP=$1; echo "==> $1: $2"; }
note() { echo "    $*"; }
# Run one changing action: printed always, executed unless --dry-run, counted.
act() {
  local what=$1; shift
  CHANGES=$((CHANGES + 1))
  if ((DRY_RUN)); then
    echo "  [dry-run] $what"
  else
    echo "  + $what"
    "$@"
  fi
}
ok() { echo "  = $*"; }
# A path on the target system.
at() { printf '%s%s' "$ROOT" "$1"; }

# --- files ---------------------------------------------------------------------------------
# The values templates may use (@NAME@ in scripts/setup/*).
render() {
  local name=$1 display_env wait_display run_args="" xrot touch_note="" if_regex="# " if_glob="# "
  if ((HEADLESS)); then
    display_env="# headless: no display"
    wait_display="# headless: no display to wait for"
    run_args=" --headless"
  else
    display_env="Environment=DISPLAY=:0 XAUTHORITY=/home/$USER_NAME/.Xauthority"
    wait_display="ExecStartPre=$APP_DIR/bin/daka-wait-display"
  fi
  case $ROTATE in 0) xrot=normal ;; 90) xrot=right ;; 180) xrot=inverted ;; 270) xrot=left ;; esac
  [[ -n $TOUCH_MATRIX ]] && touch_note=", calibrated with --touch-matrix"
  if [[ $name == sudoers ]]; then
    if sudo_has_regex; then if_regex=""; else if_glob=""; fi
  fi
  [[ -f $TEMPLATES/$name ]] || die "missing template $TEMPLATES/$name"
  sed -e "s|@USER@|$USER_NAME|g" -e "s|@APP_DIR@|$APP_DIR|g" -e "s|@INSTANCE_DIR@|$INSTANCE_DIR|g" \
      -e "s|@SET_TIME@|$SET_TIME|g" -e "s|@DISPLAY_ENV@|$display_env|g" \
      -e "s|@WAIT_DISPLAY@|$wait_display|g" -e "s|@RUN_ARGS@|$run_args|g" \
      -e "s|@XRANDR_ROTATION@|$xrot|g" -e "s|@ROTATION@|$ROTATE|g" \
      -e "s|@TOUCH_MATRIX@|$(touch_matrix)|g" -e "s|@TOUCH_NOTE@|$touch_note|g" \
      -e "s|@JOURNAL_MAX@|200M|g" -e "s|@NTP_SERVERS@|$NTP_SERVERS|g" \
      -e "s|@IF_REGEX@|$if_regex|g" -e "s|@IF_GLOB@|$if_glob|g" \
      "$TEMPLATES/$name"
}

# The target's sudo version: the installed one, else the one its release ships (a dry run before
# the packages step has installed sudo).
sudo_version() {
  local v=""
  if [[ -z $ROOT ]] && command -v sudo >/dev/null; then
    v=$(sudo -V 2>/dev/null | sed -n 's/^Sudo version \([0-9][0-9.a-z]*\).*/\1/p' | head -n1)
  elif [[ -d $(at /var/lib/dpkg) ]] && command -v dpkg-query >/dev/null; then
    v=$(dpkg-query --admindir="$(at /var/lib/dpkg)" -W -f '${Version}' sudo 2>/dev/null || true)
  fi
  if [[ -z $v ]]; then
    if [[ $OS_ID == debian && ${OS_VERSION%%.*} -ge 12 ]] || [[ $OS_ID == ubuntu && ${OS_VERSION%%.*} -ge 24 ]]; then
      v=1.9.13
    else
      v=1.9.9  # Ubuntu 22.04 ships 1.9.9, 20.04 1.8.31, 18.04 1.8.21
    fi
  fi
  echo "$v"
}

# sudo >= 1.9.10 reads command arguments written ^...$ as a regular expression.
sudo_has_regex() {
  [[ $(printf '%s\n' 1.9.10 "$(sudo_version)" | sort -V | head -n1) == 1.9.10 ]]
}

# libinput's matrix for the panel: the calibration given, then turned with the screen.
touch_matrix() {
  local base=${TOUCH_MATRIX:-"1 0 0 0 1 0"}
  if [[ -n $TOUCH_MATRIX ]]; then
    echo "$base 0 0 1"; return
  fi
  # libinput's documented matrices for a screen turned clockwise (xrandr right / inverted / left).
  case $ROTATE in
    0) echo "1 0 0 0 1 0 0 0 1" ;;
    90) echo "0 -1 1 1 0 0 0 0 1" ;;
    180) echo "-1 0 1 0 -1 1 0 0 1" ;;
    270) echo "0 1 0 -1 0 1 0 0 1" ;;
  esac
}

# put_file DEST MODE OWNER: install stdin as DEST unless it already has that content and mode.
put_file() {
  local dest=$1 mode=$2 owner=$3 tmp target
  target=$(at "$dest")
  tmp=$(mktemp)
  cat >"$tmp"
  if [[ -n ${DAKA_SETUP_STAGE:-} ]]; then  # tests: keep what would be written
    install -D -m "$mode" "$tmp" "$DAKA_SETUP_STAGE$dest"
  fi
  if [[ -f $target ]] && cmp -s "$tmp" "$target" \
     && [[ $(stat -c %a "$target") == "${mode#0}" ]] \
     && { ((DRY_RUN)) || [[ $(stat -c %U:%G "$target") == "$owner" ]]; }; then
    ok "$dest unchanged"
    rm -f "$tmp"
    return 0
  fi
  act "write $dest (mode $mode, $owner)" install -D -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$tmp" "$target"
  rm -f "$tmp"
}
# (Never pipe into put_file / put_block: a pipeline's subshell would lose the change count.)
put_template() { put_file "$2" "$3" "$4" < <(render "$1"); }

ensure_dir() {
  local dest=$1 mode=$2 owner=$3 target
  target=$(at "$dest")
  if [[ -d $target && $(stat -c %a "$target") == "${mode#0}" ]] \
     && { ((DRY_RUN)) || [[ $(stat -c %U:%G "$target") == "$owner" ]]; }; then
    ok "$dest/ present"
    return 0
  fi
  act "create $dest/ (mode $mode, $owner)" install -d -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$target"
}

remove_path() {
  local target
  target=$(at "$1")
  if [[ -e $target || -L $target ]]; then
    act "remove $1" rm -rf --one-file-system "$target"
  fi
}

# Replace the lines between "# daka-setup begin" / "# daka-setup end" in FILE with stdin.
put_block() {
  local file=$1 mode=$2 new
  new=$(mktemp)
  {
    if [[ -f $(at "$file") ]]; then
      sed '/^# daka-setup begin$/,/^# daka-setup end$/d' "$(at "$file")"
    fi
    if [[ $mode == set ]]; then
      echo "# daka-setup begin"
      cat
      echo "# daka-setup end"
    fi
  } >"$new"
  if [[ -n ${DAKA_SETUP_STAGE:-} ]]; then
    install -D -m 644 "$new" "$DAKA_SETUP_STAGE$file"
  fi
  if [[ -f $(at "$file") ]] && cmp -s "$new" "$(at "$file")"; then
    ok "$file unchanged"
  elif [[ ! -f $(at "$file") && $mode != set ]]; then
    :
  else
    local perms
    perms=$(stat -c %a "$(at "$file")" 2>/dev/null || echo 644)
    act "update the daka-setup block of $file" install -m "$perms" "$new" "$(at "$file")"
  fi
  rm -f "$new"
}

# --- detection -----------------------------------------------------------------------------
ARCH=${DAKA_SETUP_ARCH:-$(uname -m)}
BOARD=""; L4T=""; JETPACK=""; OS_ID=""; OS_VERSION=""; OS_CODENAME=""; RAM_MB=0; CUDA=0
MODEL=""; BUILD_CPU=""
PYTHON_ROUTE=""; LIVE=0

# One field of os-release, read (never sourced: it is the target's file).
os_field() {
  sed -n "s/^$1=//p" "$(at /etc/os-release)" | head -n1 | tr -d "\"'"
}

detect() {
  [[ -f $(at /etc/os-release) ]] || die "$(at /etc/os-release) not found: not a Debian/Ubuntu system"
  OS_ID=$(os_field ID)
  OS_VERSION=$(os_field VERSION_ID)
  OS_CODENAME=$(os_field VERSION_CODENAME)
  case $OS_ID in
    debian|ubuntu) ;;
    *) die "unsupported OS '$OS_ID' (Debian or Ubuntu, including Jetson Linux, are supported)" ;;
  esac
  case $ARCH in
    aarch64|arm64) ARCH=aarch64 ;;
    x86_64|amd64) ARCH=x86_64 ;;
    *) die "unsupported architecture '$ARCH' (arm64 or x86_64)" ;;
  esac

  local model="" compatible=""
  if [[ -f $(at /proc/device-tree/model) ]]; then
    model=$(tr -d '\0' <"$(at /proc/device-tree/model)")
  fi
  if [[ -f $(at /proc/device-tree/compatible) ]]; then
    compatible=$(tr '\0' ' ' <"$(at /proc/device-tree/compatible)")
  fi
  MODEL=$model
  if [[ -f $(at /etc/nv_tegra_release) ]]; then
    BOARD=jetson
    # "# R32 (release), REVISION: 7.1, GCID: ..." -> R32.7.1
    L4T=$(sed -n 's/^# R\([0-9]*\) (release), REVISION: \([0-9.]*\).*/R\1.\2/p' "$(at /etc/nv_tegra_release)")
    [[ -n $L4T ]] || die "cannot read the L4T release from /etc/nv_tegra_release"
    case ${L4T%%.*} in
      R32) JETPACK=4 ;;
      R34|R35) JETPACK=5 ;;
      R36) JETPACK=6 ;;
      *) die "unsupported Jetson Linux $L4T (JetPack 4.6, 5 and 6 are supported)" ;;
    esac
    if [[ $JETPACK == 4 ]]; then
      local rev=${L4T#R32.}
      [[ ${rev%%.*} -ge 6 ]] || die "Jetson Linux $L4T is older than JetPack 4.6 (R32.6); flash JetPack 4.6 or newer"
      JETPACK=4.6
    fi
    [[ $ARCH == aarch64 ]] || die "a Jetson release file on $ARCH"
  elif [[ $BOARD_OPTION != auto ]]; then
    BOARD=$BOARD_OPTION
  elif [[ $model == *"Raspberry Pi"* ]]; then
    BOARD=raspberrypi
  elif [[ " $compatible " == *" rockchip,rk3588"* ]]; then
    BOARD=rk3588
  elif [[ $ARCH == aarch64 ]]; then
    BOARD=arm64
  else
    BOARD=pc
  fi
  case $BOARD in
    pc) [[ $ARCH == x86_64 ]] || die "--board pc on $ARCH" ;;
    raspberrypi|rk3588|arm64) [[ $ARCH == aarch64 ]] || die "--board $BOARD on $ARCH" ;;
  esac
  BUILD_CPU=$(board_cpu)

  if [[ -r $(at /proc/meminfo) ]]; then
    RAM_MB=$(awk '/^MemTotal:/ { print int($2 / 1024) }' "$(at /proc/meminfo)")
  fi
  if [[ -x $(at /usr/local/cuda/bin/nvcc) ]] && compgen -G "$(at /usr/lib)/*-linux-gnu/libcudnn.so*" >/dev/null; then
    CUDA=1
  fi

  # Which Python >= 3.11 the app runs on.
  local major=${OS_VERSION%%.*}
  if [[ $OS_ID == debian && $major -ge 12 ]] || [[ $OS_ID == ubuntu && $major -ge 23 ]]; then
    PYTHON_ROUTE=system
  elif [[ $OS_ID == ubuntu && $major -eq 22 ]]; then
    PYTHON_ROUTE=archive-3.11
  elif [[ $OS_ID == ubuntu && $major -ge 18 ]]; then
    PYTHON_ROUTE=standalone  # 18.04 (JetPack 4.6: Python 3.6) and 20.04 (JetPack 5: 3.8)
  else
    die "$OS_ID $OS_VERSION is too old (Debian 12, Ubuntu 18.04 on JetPack 4.6, or newer)"
  fi

  # Start, swapon and sysctl only on the running system, not in a chroot or an image.
  if [[ -z $ROOT && -d /run/systemd/system ]] \
     && [[ $(stat -c %d:%i /) == "$(stat -c %d:%i /proc/1/root/. 2>/dev/null)" ]]; then
    LIVE=1
  fi

  echo "==> detect: board $BOARD${L4T:+ (Jetson Linux $L4T, JetPack $JETPACK)}, $OS_ID $OS_VERSION${OS_CODENAME:+ ($OS_CODENAME)}, $ARCH, RAM ${RAM_MB} MB, CUDA+cuDNN $([[ $CUDA == 1 ]] && echo yes || echo no)"
  note "native core compiled for: $(describe_cpu)"
  note "python: $PYTHON_ROUTE; $([[ $LIVE == 1 ]] && echo "live system: services are started" || echo "not the running system: services are enabled, not started")"
}

# The CPU the native core is compiled for (DAKA_NATIVE_ARCH, native/CMakeLists.txt): the board's
# own, named, rather than -march=native: an SD card set up on one board is often cloned onto the
# next one, and under emulation (tests/arm64) "native" is the emulator's or the host's CPU. Every
# name is one the board's own GCC knows (JetPack 4.6: GCC 7; JetPack 5: GCC 9; Debian 12: GCC 12).
board_cpu() {
  if [[ $CPU_OPTION != auto ]]; then echo "$CPU_OPTION"; return 0; fi
  case $BOARD in
    pc) echo native ;;
    raspberrypi)
      case $MODEL in
        *"Raspberry Pi 4"*|*"Compute Module 4"*) echo cortex-a72 ;;  # and the Pi 400
        *"Raspberry Pi 3"*|*"Zero 2"*) echo cortex-a53 ;;
        *) echo cortex-a76 ;;  # Raspberry Pi 5 (and --board raspberrypi without a model)
      esac ;;
    rk3588) echo cortex-a76.cortex-a55 ;;
    jetson)
      case $JETPACK in
        4.6) echo cortex-a57 ;;  # Nano / TX1 cores; plain ARMv8.0 code also runs on TX2 and Xavier
        *) if [[ $MODEL == *Orin* ]]; then
             # Orin's Cortex-A78AE; JetPack 5's GCC 9 does not know it, its A76 subset is the same code.
             if [[ $JETPACK == 5 ]]; then echo cortex-a76; else echo cortex-a78ae; fi
           else
             echo off  # Xavier on JetPack 5: the ARMv8.0 baseline
           fi ;;
      esac ;;
    *) echo off ;;  # an unknown arm64 board: ARMv8.0 with NEON, runs on every 64-bit ARM
  esac
}

describe_cpu() {
  case $BUILD_CPU in
    native) echo "the CPU that builds (-march=native)" ;;
    off) echo "the $ARCH baseline$([[ $ARCH == aarch64 ]] && echo " (ARMv8-A, NEON)")" ;;
    *) echo "$BUILD_CPU$([[ $ARCH == aarch64 ]] && echo " (-mcpu=$BUILD_CPU)" || echo " (-march=$BUILD_CPU)")" ;;
  esac
}

# glibc of the target: JetPack 4.6 (Ubuntu 18.04) has 2.27, older than the manylinux_2_28 wheels.
glibc_version() {
  local v
  v=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{ print $2 }')
  if [[ -n $ROOT || -z $v ]]; then
    case $OS_ID${OS_VERSION%%.*} in
      ubuntu18) v=2.27 ;; ubuntu20) v=2.31 ;; ubuntu22) v=2.35 ;; debian12) v=2.36 ;; *) v=${v:-2.36} ;;
    esac
  fi
  echo "$v"
}

# Pins for a glibc older than 2.28 (docs/boards.md): onnxruntime 1.28.0 is the last release with a
# manylinux_2_27 aarch64 wheel (1.29 on: manylinux_2_28 only, and no source distribution).
pip_constraints() {
  if [[ $(printf '%s\n' 2.28 "$(glibc_version)" | sort -V | head -n1) != 2.28 ]]; then
    echo "onnxruntime==1.28.0"
  fi
}

wants() { [[ -z $ONLY || ",$ONLY," == *",$1,"* ]]; }

# --- steps ---------------------------------------------------------------------------------
# Packages beyond `make run`'s (scripts/install_system_deps.sh): the device's own.
device_packages() {
  local p=(sudo rsync ca-certificates curl tzdata systemd-sysv udev)
  # Name the Python packages here: install_system_deps.sh guesses them from the Python it finds,
  # which on a bare system differs before and after the first install (not idempotent).
  case $PYTHON_ROUTE in
    system) p+=(python3 python3-venv python3-dev) ;;
    archive-3.11) p+=(python3.11 python3.11-venv python3.11-dev) ;;
    standalone) p+=(python3-venv) ;;  # the system Python only runs uv, which brings 3.11
  esac
  # Debian ships timesyncd apart from systemd since 12; older Ubuntu has it inside systemd.
  if [[ $OS_ID == debian ]] || [[ $OS_ID == ubuntu && ${OS_VERSION%%.*} -ge 20 ]]; then
    p+=(systemd-timesyncd)
  fi
  if ((!HEADLESS)); then
    p+=(xserver-xorg-core xserver-xorg-input-libinput xserver-xorg-legacy xinit x11-xserver-utils xinput xinput-calibrator)
  fi
  echo "${p[@]}"
}

# Arguments for install_system_deps.sh: names Ubuntu 18.04 (JetPack 4.6) spells differently, and
# no Python packages where the python step brings its own.
package_renames() {
  if [[ $OS_ID == ubuntu && ${OS_VERSION%%.*} -lt 20 ]]; then
    echo "libfreetype-dev=libfreetype6-dev libopenblas0-pthread=libopenblas-base"
  fi
  if [[ $PYTHON_ROUTE == standalone ]]; then echo "--no-python"; fi
}

step_packages() {
  step packages "system packages (scripts/install_system_deps.sh + the device's)"
  local extra renames missing deps="$SOURCE_DIR/scripts/install_system_deps.sh"
  read -r -a extra <<<"$(device_packages)"
  read -r -a renames <<<"$(package_renames)"
  # dpkg-query reads the target's package database (DPKG_ADMINDIR) when --root is given.
  mapfile -t missing < <(DPKG_ADMINDIR="$(at /var/lib/dpkg)" bash "$deps" --print-missing "${extra[@]}" "${renames[@]}")
  if ((${#missing[@]} == 0)); then
    ok "all present"
  else
    act "install ${missing[*]}" bash "$deps" "${extra[@]}" "${renames[@]}"
  fi
}

python_bin() {
  case $PYTHON_ROUTE in
    system) echo /usr/bin/python3 ;;
    archive-3.11) echo /usr/bin/python3.11 ;;
    standalone) echo "$APP_DIR/python/bin/python3.11" ;;
  esac
}

step_python() {
  step python "a Python >= 3.11 for the app ($PYTHON_ROUTE)"
  if [[ $PYTHON_ROUTE != standalone ]]; then
    ok "$(python_bin) comes with the system packages"
    return 0
  fi
  # Ubuntu 18.04 / 20.04 have no Python 3.11: a relocatable CPython build installed by uv
  # (from PyPI; it verifies the interpreter's checksum) into $APP_DIR/python.
  if [[ -x $(at "$APP_DIR/python/bin/python3.11") ]]; then
    ok "$APP_DIR/python/bin/python3.11 present"
    return 0
  fi
  act "install uv (PyPI) into $APP_DIR/uv" python3 -m venv "$(at "$APP_DIR/uv")"
  act "  pip install uv" "$(at "$APP_DIR/uv/bin/pip")" install -q uv
  act "install CPython 3.11 into $APP_DIR/python" install_standalone_python
}

install_standalone_python() {
  local dir
  UV_PYTHON_INSTALL_DIR="$APP_DIR/python-builds" "$APP_DIR/uv/bin/uv" python install 3.11
  dir=$(UV_PYTHON_INSTALL_DIR="$APP_DIR/python-builds" "$APP_DIR/uv/bin/uv" python find 3.11)
  ln -sfn "$(dirname "$(dirname "$dir")")" "$APP_DIR/python"
}

user_groups() { echo "video dialout gpio i2c input render audio"; }

step_user() {
  step user "the '$USER_NAME' user and its device groups (no sudo group)"
  local g groups=()
  read -r -a groups <<<"$(user_groups)"
  for g in gpio i2c; do
    if grep -q "^$g:" "$(at /etc/group)" 2>/dev/null; then ok "group $g exists"
    else act "create system group $g" groupadd --system "$g"; fi
  done
  if grep -q "^$USER_NAME:" "$(at /etc/passwd)" 2>/dev/null; then
    ok "user $USER_NAME exists"
  else
    act "create user $USER_NAME (home /home/$USER_NAME, no password, no sudo)" \
      useradd --create-home --home-dir "/home/$USER_NAME" --shell /bin/bash --user-group "$USER_NAME"
  fi
  for g in "${groups[@]}"; do
    if [[ $g != gpio && $g != i2c ]] && ! grep -q "^$g:" "$(at /etc/group)" 2>/dev/null; then
      ok "group $g does not exist here: skipped"
      continue
    fi
    if grep -Eq "^$g:[^:]*:[^:]*:(.*,)?$USER_NAME(,.*)?$" "$(at /etc/group)" 2>/dev/null; then
      ok "$USER_NAME in $g"
    else
      act "add $USER_NAME to $g" usermod -aG "$g" "$USER_NAME"
    fi
  done
  if grep -Eq "^sudo:[^:]*:[^:]*:(.*,)?$USER_NAME(,.*)?$" "$(at /etc/group)" 2>/dev/null; then
    act "remove $USER_NAME from the sudo group" gpasswd -d "$USER_NAME" sudo
  fi
  put_template 90-daka-devices.rules /etc/udev/rules.d/90-daka-devices.rules 644 root:root
  ensure_dir "$INSTANCE_DIR" 700 "$USER_NAME:$USER_NAME"
}

step_sudoers() {
  step sudoers "one rule: $USER_NAME may run $SET_TIME as root with its two forms of arguments, nothing else"
  note "sudo $(sudo_version): arguments pinned by $(sudo_has_regex && echo "a regular expression" || echo "one-character wildcards (sudo < 1.9.10)")"
  local helper="$SOURCE_DIR/scripts/daka-set-time" checked
  if [[ -f $helper ]]; then
    put_file "$SET_TIME" 755 root:root <"$helper"
  else
    note "warning: $helper is not in this source tree; the rule names it for when it is"
  fi
  checked=$(mktemp)
  render sudoers >"$checked"
  if command -v visudo >/dev/null; then
    visudo -cqf "$checked" >/dev/null || { rm -f "$checked"; die "the sudoers rule does not validate (visudo -cf)"; }
  elif ((!DRY_RUN)); then
    rm -f "$checked"; die "visudo not found (package sudo)"
  fi
  put_file /etc/sudoers.d/daka 440 root:root <"$checked"
  rm -f "$checked"
  # The seed's manual put "NOPASSWD: ALL" in sudoers: say so loudly, never silently keep it.
  local f
  for f in "$(at /etc/sudoers)" "$(at /etc/sudoers.d)"/*; do
    [[ -f $f ]] || continue
    if grep -Eq "^[[:space:]]*[^#].*NOPASSWD:[[:space:]]*ALL[[:space:]]*$" "$f"; then
      note "warning: ${f#"$ROOT"} grants NOPASSWD: ALL; remove it (visudo) unless you mean it"
    fi
  done
}

swap_bytes() {
  local size=$SWAP_SIZE
  if [[ $size == auto ]]; then
    # The seed ran a 4 GB Nano with 2 GB of swap; boards with more memory need less.
    if ((RAM_MB == 0 || RAM_MB <= 4096)); then size=2G
    elif ((RAM_MB <= 8192)); then size=1G
    else size=0; fi
  fi
  case $size in
    *G) echo $((${size%G} * 1024 * 1024 * 1024)) ;;
    *M) echo $((${size%M} * 1024 * 1024)) ;;
    *) echo $((size)) ;;
  esac
}

step_swap() {
  local bytes
  bytes=$(swap_bytes)
  step swap "$((bytes / 1024 / 1024)) MB at $SWAP_FILE (RAM ${RAM_MB} MB), swappiness 10"
  put_template sysctl-swap.conf /etc/sysctl.d/90-daka-swap.conf 644 root:root
  if ((LIVE)); then
    if [[ $(cat /proc/sys/vm/swappiness) != 10 ]]; then act "apply vm.swappiness=10" sysctl -q -w vm.swappiness=10; fi
  fi
  if ((bytes == 0)); then
    ok "no swap file needed"
    return 0
  fi
  local target
  target=$(at "$SWAP_FILE")
  if [[ -f $target && $(stat -c %s "$target") -eq $bytes ]]; then
    ok "$SWAP_FILE present ($((bytes / 1024 / 1024)) MB)"
  else
    if [[ -f $target ]] && ((LIVE)) && grep -q "^$SWAP_FILE " /proc/swaps; then
      act "swapoff $SWAP_FILE (resizing)" swapoff "$SWAP_FILE"
    fi
    act "create $SWAP_FILE ($((bytes / 1024 / 1024)) MB)" make_swap_file "$target" "$bytes"
  fi
  put_block /etc/fstab set < <(printf '%s none swap sw 0 0\n' "$SWAP_FILE")
  if ((LIVE)) && ! grep -q "^$SWAP_FILE " /proc/swaps; then
    act "swapon $SWAP_FILE" swapon "$SWAP_FILE"
  fi
}

make_swap_file() {
  rm -f "$1"
  # fallocate makes holes-free files on ext4; dd is the fallback for file systems without it.
  fallocate -l "$2" "$1" 2>/dev/null || dd if=/dev/zero of="$1" bs=1M count=$(($2 / 1024 / 1024)) status=none
  chmod 600 "$1"
  mkswap -q "$1" >/dev/null 2>&1 || mkswap "$1" >/dev/null
}

# The source without what git ignores (venv, build, caches, models, fonts), owned by root.
copy_source() {
  rsync -a --delete --chown=root:root --exclude=/.git --filter=':- .gitignore' "$@" \
    "$SOURCE_DIR/" "$(at "$APP_DIR/src")/"
}

source_hash() {
  local src
  src=$(at "$APP_DIR/src")
  [[ -d $src ]] || { echo none; return 0; }
  # The names and contents of the files as copied: not the build/ folder the build leaves there, not
  # the folders' times (the build's new build/ folder changes the top folder's), and no times at all:
  # rsync prints them in the local zone, which the time step sets after this one on a first run, so
  # every second run rebuilt the core (both found by the arm64 run, tests/arm64).
  (cd "$src" && rsync -r --exclude=/.git --filter=':- .gitignore' --list-only ./ | grep -v '^d' \
    | sed -E 's/^[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+ //' | LC_ALL=C sort | tr '\n' '\0' | xargs -0 -r sha256sum --) \
    | sha256sum | cut -c1-64
}

step_app() {
  step app "Daka in $APP_DIR (source, venv, native core, models)"
  [[ -f $SOURCE_DIR/pyproject.toml ]] || die "$SOURCE_DIR is not a Daka source tree (no pyproject.toml)"
  ensure_dir "$APP_DIR" 755 root:root
  ensure_dir "$APP_DIR/bin" 755 root:root
  # The source is root's: the service user must not be able to change the code it runs.
  local changes
  if [[ -d $(at "$APP_DIR/src") ]]; then
    changes=$(copy_source -n -i | grep -v '^\.d' || true)
  else
    changes=new
  fi
  if [[ -n $changes ]]; then
    act "copy $SOURCE_DIR to $APP_DIR/src" copy_source
  else
    ok "$APP_DIR/src is current"
  fi
  if ((!HEADLESS)); then
    put_template daka-wait-display "$APP_DIR/bin/daka-wait-display" 755 root:root
  fi

  if ((SKIP_BUILD)); then
    note "--skip-build: no venv, native build or models (daka.service will not start until they exist)"
    return 0
  fi
  local py hash stamp
  py=$(python_bin)
  # The CPU is part of what is built: another --cpu rebuilds.
  hash="$(source_hash) cpu=$BUILD_CPU"
  stamp=$(at "$APP_DIR/venv/.daka-build")
  if [[ ! -x $(at "$APP_DIR/venv/bin/python") ]]; then
    act "create the venv $APP_DIR/venv ($py)" "$py" -m venv "$(at "$APP_DIR/venv")"
  else
    ok "$APP_DIR/venv present"
  fi
  if [[ -f $stamp && $(cat "$stamp") == "$hash" ]]; then
    ok "the app in $APP_DIR/venv is built from this source"
  else
    note "build stamp: $hash ($([[ -f $stamp ]] && echo "the last build was of another source or CPU" || echo "not built yet"))"
    if ((CUDA)); then
      act "build dlib with CUDA (CUDA and cuDNN found) into $APP_DIR/dlib" build_cuda_dlib
    fi
    act "build and install the app (native core for $BUILD_CPU$( ((CUDA)) && echo ", dlib CUDA on")) into $APP_DIR/venv" build_app "$hash"
    if [[ -n $(pip_constraints) ]]; then note "glibc $(glibc_version) < 2.28: pinned $(pip_constraints | tr '\n' ' ')"; fi
  fi
  if [[ -f $(at "$APP_DIR/venv/.daka-models") && $(cat "$(at "$APP_DIR/venv/.daka-models")") == "${hash% cpu=*}" ]]; then
    ok "models installed and verified for this build"
  else
    act "install and verify the models (daka models install)" install_models "${hash% cpu=*}"
  fi
}

install_models() {
  "$APP_DIR/venv/bin/daka" models install
  # Written by root with private modes; the service user must read them.
  chmod -R a+rX "$APP_DIR/venv/share/daka/models"
  echo "$1" >"$APP_DIR/venv/.daka-models"
}

build_cuda_dlib() {
  [[ -f $APP_DIR/dlib/.daka-cuda ]] && return 0
  local work
  work=$(mktemp -d)
  "$APP_DIR/venv/bin/pip" download -q --no-binary :all: --no-deps "dlib==19.24.6" -d "$work"
  tar -xzf "$work"/dlib-*.tar.gz -C "$work"
  # Static and position-independent: linked into the app's module, no run-time library path.
  cmake -S "$work"/dlib-19.24.6/dlib -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DDLIB_USE_CUDA=ON \
    -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DCMAKE_INSTALL_PREFIX="$APP_DIR/dlib"
  cmake --build "$work/build" -j "$(nproc)"
  cmake --install "$work/build"
  touch "$APP_DIR/dlib/.daka-cuda"
  rm -rf "$work"
}

build_app() {
  local pip="$APP_DIR/venv/bin/pip"
  "$pip" install -q --upgrade pip
  if ((CUDA)); then export CMAKE_PREFIX_PATH="$APP_DIR/dlib"; fi
  local constraints
  constraints=$(mktemp)
  pip_constraints >"$constraints"
  DAKA_NATIVE_ARCH=$BUILD_CPU "$pip" install -q -c "$constraints" "$APP_DIR/src"
  rm -f "$constraints"
  echo "$1" >"$APP_DIR/venv/.daka-build"
}

systemctl_root() {
  if [[ -n $ROOT ]]; then systemctl --root="$ROOT" "$@"; else systemctl "$@"; fi
}

enable_unit() {
  if [[ $(systemctl_root is-enabled "$1" 2>/dev/null) == enabled ]]; then
    ok "$1 enabled"
  else
    act "enable $1" systemctl_root enable -q "$1"
  fi
}

step_units() {
  step units "daka.service: Restart=always, watchdog fed by the app (sd_notify)"
  local before
  before=$CHANGES
  put_template daka.service /etc/systemd/system/daka.service 644 root:root
  if ((LIVE && CHANGES > before)); then act "reload systemd" systemctl daemon-reload; fi
  enable_unit daka.service
}

step_kiosk() {
  if ((HEADLESS)); then
    step kiosk "none (--headless)"
    remove_path /etc/systemd/system/getty@tty1.service.d/daka-autologin.conf
    return 0
  fi
  step kiosk "autologin on tty1 into a minimal X session, screen blanking off"
  put_template autologin.conf /etc/systemd/system/getty@tty1.service.d/daka-autologin.conf 644 root:root
  put_template bash_profile "/home/$USER_NAME/.bash_profile" 644 "$USER_NAME:$USER_NAME"
  put_template daka-kiosk-session "$APP_DIR/bin/daka-kiosk-session" 755 root:root
  put_template 90-daka-kiosk.conf /etc/X11/xorg.conf.d/90-daka-kiosk.conf 644 root:root
  # Debian's Xwrapper lets console users start X; keep that (never "anybody").
  put_file /etc/X11/Xwrapper.config 644 root:root < <(printf 'allowed_users=console\nneeds_root_rights=auto\n')
  enable_unit getty@tty1.service
}

step_display() {
  if ((HEADLESS)); then
    step display "none (--headless)"
    return 0
  fi
  step display "3.5\" LCD: rotation $ROTATE, XPT2046/ADS7846 touch matrix $(touch_matrix)"
  put_template 90-daka-touch.rules /etc/udev/rules.d/90-daka-touch.rules 644 root:root
  case $BOARD in
    raspberrypi)
      local config=/boot/firmware/config.txt
      [[ -f $(at "$config") ]] || config=/boot/config.txt
      # The panel's controller on SPI0 CE1 with its pen interrupt on GPIO 25 (the common 3.5" HATs).
      put_block "$config" set < <(printf '%s\n' "dtparam=spi=on" \
        "dtoverlay=ads7846,cs=1,penirq=25,penirq_pull=2,speed=50000,swapxy=0,pmax=255,xohms=150")
      ;;
    jetson)
      note "Jetson: enable the SPI touch controller with /opt/nvidia/jetson-io (an ads7846 overlay for"
      note "the 40-pin header); it is board-specific, so this script does not change the device tree."
      ;;
    *)
      note "$BOARD: the touch panel must be enabled by the board's device tree; the rule applies once it is"
      ;;
  esac
  if [[ -n $TOUCH_MATRIX ]]; then
    note "touch calibration from --touch-matrix (xinput_calibrator prints one)"
  else
    note "to calibrate: run xinput_calibrator on the kiosk, then re-run with --touch-matrix \"a b c d e f\""
  fi
  if ((LIVE)); then
    act "reload udev rules" udevadm control --reload
  fi
}

step_journald() {
  step journald "persistent journal, at most 200 MB"
  put_template journald.conf /etc/systemd/journald.conf.d/90-daka.conf 644 root:root
}

step_time() {
  step time "time zone $TIMEZONE, NTP ($NTP_SERVERS)"
  [[ -f $(at "/usr/share/zoneinfo/$TIMEZONE") ]] || ((DRY_RUN)) || die "unknown time zone '$TIMEZONE' (no /usr/share/zoneinfo/$TIMEZONE)"
  local want="/usr/share/zoneinfo/$TIMEZONE"
  if [[ $(readlink "$(at /etc/localtime)" 2>/dev/null) == "$want" ]]; then
    ok "/etc/localtime -> $want"
  else
    act "set /etc/localtime -> $want" ln -sfn "$want" "$(at /etc/localtime)"
  fi
  put_file /etc/timezone 644 root:root < <(echo "$TIMEZONE")
  put_template timesyncd.conf /etc/systemd/timesyncd.conf.d/90-daka.conf 644 root:root
  enable_unit systemd-timesyncd.service
  if ((LIVE)) && ! systemctl is-active -q systemd-timesyncd; then
    act "start systemd-timesyncd" systemctl start systemd-timesyncd
  fi
}

admin_url() {
  local ip=""
  if ((LIVE)); then ip=$(hostname -I 2>/dev/null | awk '{ print $1 }'); fi
  echo "http://${ip:-<this-board>}:$ADMIN_PORT/"
}

# issue 20: a fleet terminal keeps its local store and links to the central database as its own role.
# daka.toml with its daka-setup block made of stdin (nothing on stdin: the block removed).
toml_with_block() {
  local file=$1 block
  block=$(cat)
  if [[ -f $(at "$file") ]]; then
    sed '/^# daka-setup begin$/,/^# daka-setup end$/d' "$(at "$file")"
  fi
  if [[ -n $block ]]; then
    printf '# daka-setup begin\n%s\n# daka-setup end\n' "$block"
  fi
}

step_fleet() {
  local config="$INSTANCE_DIR/daka.toml"
  if [[ -z $FLEET_URL ]]; then
    step fleet "standalone (no --fleet-url)"
    if [[ -f $(at "$config") ]] && grep -q '^# daka-setup begin$' "$(at "$config")"; then
      put_file "$config" 600 "$USER_NAME:$USER_NAME" < <(toml_with_block "$config" </dev/null)
    else
      ok "no [fleet] block from this script in $config"
    fi
    return 0
  fi
  step fleet "the central database: [fleet] in $config (docs/fleet.md)"
  # The URL holds the role's password: the file is the daka user's alone (mode 600).
  put_file "$config" 600 "$USER_NAME:$USER_NAME" \
    < <(printf '[fleet]\ndatabase_url = "%s"\n' "$FLEET_URL" | toml_with_block "$config")
  note "the terminal mirrors the central library and uploads its punches; to bring this terminal's own"
  note "staff and punches along, stop it and run: daka fleet join (as $USER_NAME)"
}

step_firstrun() {
  step firstrun "the first administrator"
  local creds=/root/daka-first-run.txt daka="$APP_DIR/venv/bin/daka"
  if [[ -f $(at "$creds") ]]; then
    ok "$creds exists (first-run credentials already made)"
  elif [[ -x $(at "$daka") ]] && "$(at "$daka")" admin create-user --help >/dev/null 2>&1; then
    act "create the administrator 'admin' (credentials in $creds, root only)" create_admin "$daka" "$creds"
  else
    note "the admin is not part of this build: no administrator created yet"
  fi
  echo
  echo "Daka is set up$( ((DRY_RUN)) && echo " (dry run: nothing was changed)")."
  echo "  admin:        $(admin_url)"
  if [[ -f $(at "$creds") ]] && ((!DRY_RUN)); then
    # Never the password itself: this output is also the log.
    echo "  first login:  user admin, password in $creds (root only: sudo cat $creds; change it after the first login)"
  fi
  echo "  terminal:     systemctl status daka; journalctl -u daka -f"
  echo "  instance:     $INSTANCE_DIR (config daka.toml, database, photos)"
}

create_admin() {
  local daka=$1 creds=$2 password
  password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=' | cut -c1-16)
  # The file first (0600, root), then the account: a failed create leaves no account without a
  # known password. create-user reads the password from stdin and prints nothing of it.
  (umask 077; printf 'admin / %s\n' "$password" >"$creds.tmp")
  chmod 600 "$creds.tmp"
  printf '%s\n' "$password" | runuser -u "$USER_NAME" -- env DAKA_INSTANCE="$INSTANCE_DIR" "$daka" admin create-user admin --role admin >/dev/null
  mv "$creds.tmp" "$creds"
}

# --- uninstall -----------------------------------------------------------------------------
uninstall() {
  step uninstall "remove what flash_and_setup.sh installed$( ((PURGE)) && echo ", and the data and user")"
  if [[ -f $(at /etc/systemd/system/daka.service) ]]; then
    if ((LIVE)); then act "stop daka.service" systemctl stop daka.service; fi
    act "disable daka.service" systemctl_root disable -q daka.service
  fi
  local path
  for path in /etc/systemd/system/daka.service /etc/systemd/system/getty@tty1.service.d/daka-autologin.conf \
              /etc/sudoers.d/daka "$SET_TIME" /etc/udev/rules.d/90-daka-devices.rules /etc/udev/rules.d/90-daka-touch.rules \
              /etc/X11/xorg.conf.d/90-daka-kiosk.conf /etc/systemd/journald.conf.d/90-daka.conf \
              /etc/systemd/timesyncd.conf.d/90-daka.conf /etc/sysctl.d/90-daka-swap.conf "/home/$USER_NAME/.bash_profile" \
              "$APP_DIR"; do
    remove_path "$path"
  done
  if [[ -f $(at /etc/fstab) ]] && grep -q '^# daka-setup begin$' "$(at /etc/fstab)"; then
    if ((LIVE)) && grep -q "^$SWAP_FILE " /proc/swaps; then act "swapoff $SWAP_FILE" swapoff "$SWAP_FILE"; fi
    put_block /etc/fstab remove
    remove_path "$SWAP_FILE"
  fi
  if ((PURGE)); then
    remove_path "$INSTANCE_DIR"
    remove_path /root/daka-first-run.txt
    if grep -q "^$USER_NAME:" "$(at /etc/passwd)" 2>/dev/null; then
      act "remove user $USER_NAME and its home" userdel -r "$USER_NAME"
    fi
  else
    note "kept: $INSTANCE_DIR (attendance data) and the user $USER_NAME; --purge removes them"
  fi
  if ((LIVE)); then act "reload systemd" systemctl daemon-reload; fi
}

# --- main ----------------------------------------------------------------------------------
detect
if ((UNINSTALL)); then
  uninstall
else
  for s in "${STEPS[@]}"; do
    if wants "$s"; then "step_$s"; fi
  done
fi
CURRENT_STEP=summary
if ((DRY_RUN)); then
  echo "==> dry run: $CHANGES change(s) would be made"
else
  echo "==> done: $CHANGES change(s) made"
fi
