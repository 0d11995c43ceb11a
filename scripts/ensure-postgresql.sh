#!/usr/bin/env bash
# Debian's PostgreSQL for the fleet and ledger tests: scripts/with-test-services.ts runs its
# own initdb and pg_ctl on a temporary folder and a free loopback port (a cluster the package
# may have created is not used). Installs it when missing; a no-op when initdb and pg_ctl are
# on PATH or in /usr/lib/postgresql/<version>/bin.
set -euo pipefail
if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then exit 0; fi
exec bash "$(dirname "$0")/ensure-debian-package.sh" '/usr/lib/postgresql/*/bin/pg_ctl' postgresql
