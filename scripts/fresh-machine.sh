#!/usr/bin/env bash
# The fresh-machine check: a new Debian 12 root with nothing installed (debootstrap minbase), a clean
# clone of this repository's HEAD, and `make test` in it as root — twice, to time the first run and a
# cached rerun. Runs in systemd-nspawn on the host's network (apt and the npm registry reachable as on
# the host). Nested containers are not available there, so the systemd suite is opted out of
# (PEXD_TEST_SKIP=systemd; it runs on the host, where `make test` boots its own containers).
# Usage: sudo scripts/fresh-machine.sh [--keep] [--skip NAMES]     (needs debootstrap, systemd-container)
set -euo pipefail
usage="usage: sudo scripts/fresh-machine.sh [--keep] [--skip NAMES] [--help]
  --keep        leave the root in place (path printed at the end)
  --skip NAMES  PEXD_TEST_SKIP inside the container (default: systemd)"
keep=
skip=systemd
while [ $# -gt 0 ]; do
  case "$1" in
  --help | -h)
    echo "$usage"
    exit 0
    ;;
  --keep) keep=1 ;;
  --skip)
    [ $# -ge 2 ] || { echo "$usage" >&2; exit 64; }
    skip="$2"
    shift
    ;;
  *)
    echo "unknown option $1" >&2
    echo "$usage" >&2
    exit 64
    ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
for t in debootstrap systemd-nspawn git; do command -v "$t" >/dev/null || { echo "$t is missing: apt-get install -y debootstrap systemd-container git" >&2; exit 1; }; done

src="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d /var/tmp/pexd-fresh-XXXXXX)"
root="$work/root"
cleanup() { [ -n "$keep" ] || rm -rf "$work"; }
trap cleanup EXIT
mirror="$(sed -n 's/^URIs: *\(\S*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)"
mirror="${mirror:-http://deb.debian.org/debian}"

echo "== debootstrap bookworm (minbase) from $mirror"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log"; exit 1; }
# What this host's HTTPS and npm need on a network with a TLS-inspecting proxy: its extra CAs
# (picked up when the root installs ca-certificates), npm's settings and the files they name.
cafile="$(sed -n 's/^cafile=//p' /etc/npmrc 2>/dev/null | head -n1)"
for f in /etc/npmrc /etc/ssl/certs/ca-certificates.crt ${NODE_EXTRA_CA_CERTS:-} $cafile /usr/local/share/ca-certificates/*; do
  [ -n "$f" ] && [ -f "$f" ] && install -D -m 0644 "$f" "$root$f"
done
extra_ca=()
[ -n "${NODE_EXTRA_CA_CERTS:-}" ] && extra_ca=(--setenv=NODE_EXTRA_CA_CERTS="$NODE_EXTRA_CA_CERTS")
echo "== a clean clone of $(git -C "$src" rev-parse --short HEAD)"
git clone -q "$src" "$root/root/pexd"

run_test() {
  systemd-nspawn -q -D "$root" --register=no --keep-unit --machine="pexd-fresh-$$" --pipe --setenv=PEXD_TEST_SKIP="$skip" --setenv=HOME=/root "${extra_ca[@]}" \
    bash -c 'cd /root/pexd && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq make >/dev/null && make test'
}
for pass in first cached; do
  echo "== make test ($pass run)"
  t0=$(date +%s)
  status=0
  run_test >"$work/make-test-$pass.log" 2>&1 || status=$?
  t1=$(date +%s)
  tail -n 15 "$work/make-test-$pass.log"
  echo "== $pass run: exit $status in $((t1 - t0)) s (log: $work/make-test-$pass.log)"
  [ "$status" = 0 ] || { keep=1; exit "$status"; }
done
[ -n "$keep" ] && echo "root kept at $root"
