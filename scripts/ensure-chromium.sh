#!/usr/bin/env bash
# Debian's Chromium for the console's browser tests (playwright-core drives /usr/bin/chromium;
# no browser is ever downloaded). Installs it when missing; a no-op when it is there.
set -euo pipefail
exec bash "$(dirname "$0")/ensure-debian-package.sh" /usr/bin/chromium chromium
