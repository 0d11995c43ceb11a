#!/usr/bin/env bash
# ensure-debian-package.sh <binary> <package> [apt-get install options]: installs Debian's
# <package> when <binary> is missing; a no-op when it is there. <binary> is a path, or a
# pattern such as '/usr/lib/postgresql/*/bin/initdb' (any match will do). Needs root, or sudo,
# and apt-get; without them it stops with one line saying what to install. Only Debian's
# archive: nothing is downloaded from anywhere else.
set -euo pipefail
binary="$1"; package="$2"; shift 2
found() {
  local b
  for b in $binary; do # unquoted: the pattern expands to the paths that exist
    if [ -x "$b" ]; then echo "$b"; return 0; fi
  done
  return 1
}
if found >/dev/null; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure: $binary is missing and apt-get is not available; install Debian's $package" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "ensure: $binary is missing; install Debian's $package as root (apt-get install $package), or run npm test as root or with sudo" >&2
    exit 1
  fi
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
echo "ensure: installing Debian's $package ($binary is missing)" >&2
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "$@" "$package" >/dev/null
if ! b="$(found)"; then
  echo "ensure: installed Debian's $package, but $binary is still missing" >&2
  exit 1
fi
"$b" --version 2>/dev/null || "$b" -v || true
