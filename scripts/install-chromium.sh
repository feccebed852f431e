#!/usr/bin/env bash
# Install Debian's Chromium for the `mrc layout` rendering test (driven through playwright-core, which
# never downloads a browser of its own). Idempotent.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  echo "install-chromium: already installed: $(chromium --version 2>/dev/null | head -n1)"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: install Debian's chromium package (or set MRC_CHROMIUM to a Chromium binary)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
echo "install-chromium: $(chromium --version 2>/dev/null | head -n1)"
