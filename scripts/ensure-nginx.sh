#!/usr/bin/env bash
# Debian's nginx for the gateway tests (issue 12, point 3): test/http-guard-nginx.test.ts starts
# /usr/sbin/nginx itself, on loopback ports with a generated config (the package's own service
# is not used). Installs it when missing; a no-op when it is there.
set -euo pipefail
if [ -x /usr/sbin/nginx ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-nginx: /usr/sbin/nginx is missing and apt-get is not available; install Debian's nginx" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends: the binary and its modules, not a default site
$SUDO apt-get install -y -qq --no-install-recommends nginx >/dev/null
/usr/sbin/nginx -v
