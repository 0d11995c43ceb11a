#!/usr/bin/env bash
# Debian's nats-server for the fleet tests: scripts/with-test-services.ts starts a private
# server with JetStream on a free loopback port (the package's own service is not used).
# Installs it when missing; a no-op when it is there (on PATH or in /usr/sbin).
set -euo pipefail
if command -v nats-server >/dev/null 2>&1; then exit 0; fi
exec bash "$(dirname "$0")/ensure-debian-package.sh" /usr/sbin/nats-server nats-server
