#!/usr/bin/env bash
# What `npm test` needs besides node_modules, provided by the test command itself (its
# `pretest`), on CI and on a fresh machine alike: PostgreSQL and NATS with JetStream for the
# fleet and ledger tests (../shared/services/ensure starts them where that exists; elsewhere
# they must run on 127.0.0.1:5432 and :4222), Debian's Chromium for the console's browser
# tests and Debian's nginx for the gateway tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x ../shared/services/ensure ]; then ../shared/services/ensure; fi
bash scripts/ensure-chromium.sh
bash scripts/ensure-nginx.sh
