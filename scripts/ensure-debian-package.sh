#!/usr/bin/env bash
# ensure-debian-package.sh <binary> <package> [apt-get install options]: installs Debian's
# <package> when <binary> is missing; a no-op when it is there. Only Debian's archive: nothing
# is downloaded from anywhere else.
set -euo pipefail
binary="$1"; package="$2"; shift 2
if [ -x "$binary" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure: $binary is missing and apt-get is not available; install Debian's $package" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "$@" "$package" >/dev/null
"$binary" --version 2>/dev/null || "$binary" -v
