#!/usr/bin/env bash
# What `npm test` needs besides node_modules, provided by the test command itself (its
# `pretest`), on CI and on a fresh Debian machine alike, from Debian's packages when missing
# (apt-get; root or sudo): nats-server and PostgreSQL, of which scripts/with-test-services.ts
# then starts private instances on free ports in a temporary folder for the fleet and ledger
# tests (no server already running here is used), Chromium for the console's browser tests and
# nginx for the gateway tests, and the command-line tools the docs' examples use
# (test/docs-run.test.ts runs them: curl, jq, openssl).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-nats-server.sh
bash scripts/ensure-postgresql.sh
bash scripts/ensure-chromium.sh
bash scripts/ensure-nginx.sh
bash scripts/ensure-debian-package.sh /usr/bin/curl curl
bash scripts/ensure-debian-package.sh /usr/bin/jq jq
bash scripts/ensure-debian-package.sh /usr/bin/openssl openssl
