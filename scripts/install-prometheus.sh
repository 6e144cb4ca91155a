#!/usr/bin/env bash
# Installs Debian's Prometheus server for the dashboard tests (needs root; does nothing if present).
# The tests start their own Prometheus on loopback; the package's service is not used.
set -euo pipefail
if command -v prometheus >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-prometheus: run as root (apt-get), or install Debian's 'prometheus' package yourself" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# A policy-rc.d that says 101 keeps the package from starting its own service while it installs.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -qq --no-install-recommends prometheus >/dev/null
prometheus --version | head -1
