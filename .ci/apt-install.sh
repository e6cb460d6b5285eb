#!/usr/bin/env bash
# Usage: .ci/apt-install.sh PROGRAM PACKAGE
# Installs the Debian PACKAGE that provides PROGRAM (a command name or an absolute path) for the tests that need it;
# does nothing if PROGRAM is already there. Then prints its version.
set -euo pipefail
program="$1"
package="$2"
if ! command -v "$program" >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "apt-install: $program is missing and apt-get is not available to install $package" >&2
    exit 1
  fi
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "$package"
  if ! command -v "$program" >/dev/null 2>&1; then
    echo "apt-install: apt-get installed $package but $program is still missing" >&2
    exit 1
  fi
fi
"$program" --version | head -1
