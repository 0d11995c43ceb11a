#!/usr/bin/env bash
# Debian's nginx for the gateway tests (issue 12, point 3): test/http-guard-nginx.test.ts starts
# /usr/sbin/nginx itself, on loopback ports with a generated config (the package's own service
# is not used). Installs it when missing; a no-op when it is there. --no-install-recommends:
# the binary and its modules, not a default site.
set -euo pipefail
exec bash "$(dirname "$0")/ensure-debian-package.sh" /usr/sbin/nginx nginx --no-install-recommends
