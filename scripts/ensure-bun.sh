#!/usr/bin/env bash
# Puts Bun (the version package.json pins) at node_modules/.bin/bun, fetched from the npm registry
# into .cache/bun-npm (npm's own tree, apart from the project's); on a fresh Debian or Ubuntu machine,
# as root, installs Node's npm first (apt-get) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
version="$(sed -n 's/^ *"bun": *"[^0-9]*\([0-9][0-9.]*\)".*/\1/p' package.json | head -n1)"
version="${version:-1.4.5}"
say() { printf 'pexd: %s\n' "$*" >&2; }
is_elf() { [ -f "$1" ] && [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ]; }

if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing npm (apt-get) to fetch Bun $version"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm ca-certificates >/dev/null
  else
    say "Bun is missing and so is npm to fetch it: install Bun (https://bun.sh) or npm (apt-get install -y npm)"
    exit 1
  fi
fi
prefix=.cache/bun-npm
say "installing Bun $version from npm into $prefix"
mkdir -p "$prefix"
ok=
for try in 1 2 3; do
  if npm install --prefix "$prefix" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "bun@$version" >/dev/null; then
    ok=1
    break
  fi
  say "npm install failed, retrying"
  sleep 2
done
[ -n "$ok" ] || exit 1
# The package's postinstall puts the native binary at bin/bun.exe; npm may skip it (scripts off).
bin="$prefix/node_modules/bun/bin/bun.exe"
is_elf "$bin" || bin="$(find "$prefix/node_modules/@oven" -path '*/bun-linux-*/bin/bun' -type f 2>/dev/null | head -n1 || true)"
is_elf "$bin" || { say "npm installed Bun but no native binary was found under $prefix"; exit 1; }
mkdir -p node_modules/.bin
ln -sfn "$PWD/$bin" node_modules/.bin/bun
say "Bun $(node_modules/.bin/bun --version) at node_modules/.bin/bun"
