#!/usr/bin/env bash
# Install libvirt 11.x (libvirtd + the QEMU driver + virsh) for the libvirt "sparse" save-image suite.
# Debian 12: from bookworm-backports, enabled the same way as scripts/install-qemu.sh (a copy of the
# machine's own debian.sources stanza with Suites: changed; no host name here). Per-package
# `/bookworm-backports` (not -t), so systemd stays bookworm's (see ../shared/spec/libvirt-sparse.md §1).
# Idempotent. QEMU itself comes from scripts/install-qemu.sh.
set -euo pipefail

if command -v virsh >/dev/null 2>&1 && [ -x /usr/sbin/libvirtd ] && [ -x /usr/sbin/virtlogd ]; then
  echo "install-libvirt: already installed: $(virsh --version)"
  exit 0
fi
if [ ! -r /etc/os-release ] || ! grep -q '^VERSION_CODENAME=bookworm' /etc/os-release; then
  echo "install-libvirt: not Debian 12 (bookworm). Install libvirt >= 11.2 (libvirtd, virtlogd, virsh) with its QEMU driver." >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-libvirt: run as root (apt-get is needed)" >&2
  exit 1
fi
# backports: install-qemu.sh adds the stanza; run it first if it is missing
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  bash "$(dirname "$0")/install-qemu.sh"
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  libvirt-daemon/bookworm-backports \
  libvirt-daemon-driver-qemu/bookworm-backports \
  libvirt-clients/bookworm-backports >/dev/null
echo "install-libvirt: $(virsh --version)"
