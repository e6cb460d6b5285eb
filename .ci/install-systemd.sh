#!/usr/bin/env bash
# Installs Debian's systemd for `systemd-analyze verify` of deploy/voltlane.service (test/integration/deploy.test.ts);
# nothing is started. Does nothing if systemd-analyze is present.
set -euo pipefail
if command -v systemd-analyze >/dev/null 2>&1; then
  systemd-analyze --version | head -1
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-systemd: systemd-analyze is missing and apt-get is not available" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends systemd
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "install-systemd: apt-get finished but systemd-analyze is still missing" >&2
  exit 1
fi
systemd-analyze --version | head -1
