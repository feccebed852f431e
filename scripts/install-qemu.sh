#!/usr/bin/env bash
# Install a QEMU with mapped-ram (>= 9.0) for the conformance suites.
# On Debian 12 (bookworm) QEMU 10.0.x comes from bookworm-backports. The backports suite is
# enabled by copying the machine's own first stanza of debian.sources with only `Suites:`
# changed, so no registry host name is written here. Idempotent: safe to run again.
set -euo pipefail

need_version=9.0

have_qemu() {
  command -v qemu-system-x86_64 >/dev/null 2>&1 || return 1
  local v
  v=$(qemu-system-x86_64 --version | sed -n 's/^QEMU emulator version \([0-9]*\.[0-9]*\).*/\1/p')
  [ -n "$v" ] || return 1
  # version compare: major.minor >= need_version
  [ "$(printf '%s\n%s\n' "$need_version" "$v" | sort -V | head -n1)" = "$need_version" ]
}

if have_qemu; then
  echo "install-qemu: already installed"
  qemu-system-x86_64 --version
  exit 0
fi

if [ ! -r /etc/os-release ] || ! grep -q '^VERSION_CODENAME=bookworm' /etc/os-release; then
  echo "install-qemu: not Debian 12 (bookworm). Install qemu-system-x86_64 >= ${need_version} (with mapped-ram) from your distribution, then re-run the tests." >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-qemu: run as root (apt-get is needed)" >&2
  exit 1
fi

src=/etc/apt/sources.list.d/debian.sources
bp=/etc/apt/sources.list.d/mrc-bookworm-backports.sources
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  [ -r "$src" ] || { echo "install-qemu: $src not found; add bookworm-backports by hand" >&2; exit 1; }
  # First stanza (up to the first blank line), with Suites: replaced.
  awk 'BEGIN{RS=""; FS="\n"} NR==1{
         for (i = 1; i <= NF; i++) {
           if ($i ~ /^Suites:/) print "Suites: bookworm-backports"; else print $i
         }
       }' "$src" >"$bp.tmp"
  grep -q '^Suites: bookworm-backports$' "$bp.tmp" || { echo "install-qemu: could not derive a backports stanza from $src" >&2; rm -f "$bp.tmp"; exit 1; }
  mv "$bp.tmp" "$bp"
  echo "install-qemu: enabled bookworm-backports in $bp"
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends -t bookworm-backports qemu-system-x86 >/dev/null
have_qemu || { echo "install-qemu: installed QEMU is older than ${need_version}" >&2; qemu-system-x86_64 --version >&2; exit 1; }
qemu-system-x86_64 --version
