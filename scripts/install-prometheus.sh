#!/usr/bin/env bash
# Gets Debian's Prometheus server and promtool for the dashboard tests, and prints the directory
# that holds them. The tests start their own Prometheus on loopback; no service is used.
#   - already on PATH: nothing to do;
#   - root: apt-get install (the package's own service is kept from starting);
#   - anyone else: the same Debian package, downloaded into a user cache, checked against its
#     SHA256 and unpacked there with dpkg-deb (no root, no apt). Exits 1 when none of this works.
# `--user` takes that last way whoever runs it (the tests check it so).
set -euo pipefail
user_cache_only=false
[ "${1:-}" = "--user" ] && user_cache_only=true
if ! $user_cache_only && command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
  dirname "$(command -v prometheus)"
  exit 0
fi

if ! $user_cache_only && [ "$(id -u)" = 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  # A policy-rc.d that says 101 keeps the package from starting its own service while it installs.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  dirname "$(command -v prometheus)"
  exit 0
fi

# Debian 12's package (bookworm, 2.42.0+ds-5+deb12u1); the hashes are those of Debian's signed index.
version="2.42.0+ds-5+deb12u1"
case "$(uname -m)" in
  x86_64) arch=amd64 sha256=81d59a24fce84f7fbe97a45a4f2914b6a5881b5cd1db2a6a0e129e515e1a5f55 ;;
  aarch64) arch=arm64 sha256=ca131aa102390083398afbc80be9c8dd1dda78f9f92154fc00df8f7f1f4556e9 ;;
  *) echo "install-prometheus: no Debian package known for $(uname -m)" >&2; exit 1 ;;
esac
cache="${XDG_CACHE_HOME:-$HOME/.cache}/opentelemetry-instrumentation-neuralwatt/prometheus-$version-$arch"
if [ -x "$cache/usr/bin/prometheus" ] && [ -x "$cache/usr/bin/promtool" ]; then
  echo "$cache/usr/bin"
  exit 0
fi
command -v dpkg-deb >/dev/null 2>&1 || { echo "install-prometheus: dpkg-deb is needed to unpack the package" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
deb="$work/prometheus.deb"
url="http://deb.debian.org/debian/pool/main/p/prometheus/prometheus_${version//+/%2b}_$arch.deb"
if ! python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "$url" "$deb" 2>/dev/null; then
  echo "install-prometheus: could not download $url" >&2
  exit 1
fi
if ! echo "$sha256  $deb" | sha256sum --check --status; then
  echo "install-prometheus: $url does not have the expected SHA256; not used" >&2
  exit 1
fi
dpkg-deb -x "$deb" "$work/unpacked"
mkdir -p "$(dirname "$cache")"
rm -rf "$cache"
mv "$work/unpacked" "$cache"
echo "$cache/usr/bin"
