#!/usr/bin/env bash
# Installs Debian's chromium for the status page and browser client tests (headless, driven by playwright-core);
# does nothing if present.
set -euo pipefail
exec bash "$(dirname "$0")/apt-install.sh" /usr/bin/chromium chromium
