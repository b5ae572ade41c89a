#!/usr/bin/env bash
# `make all`: installs pexd as a hardened systemd service (app /opt/pexd, data /var/lib/pexd, env
# /etc/pexd/pexd.env kept if present), or stages the same files under DESTDIR. See README.md, "VPS install".
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=paths.sh
. "$SRC/scripts/paths.sh"
# The unit's ExecStart names this path; ProtectHome hides any bun under /root or /home.
BUN_BIN=/usr/local/bin/bun

say() { printf 'pexd install: %s\n' "$*"; }
die() {
  printf 'pexd install: error: %s\n' "$*" >&2
  exit 1
}

# Oldest Bun the app supports (package.json "engines") and the one to install (its devDependency).
pkg_field() { sed -n "s/^ *\"$1\": *\"[^0-9]*\([0-9][0-9.]*\)\".*/\1/p" "$SRC/package.json" | head -n1; }
BUN_MIN="$(pkg_field bun 2>/dev/null || true)"
BUN_MIN="${BUN_MIN:-1.4.5}"
BUN_VERSION="${BUN_VERSION:-$BUN_MIN}"

version_ok() { [ -n "$1" ] && printf '%s\n%s\n' "$BUN_MIN" "$1" | sort -V -C; }
is_elf() { [ -f "$1" ] && [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ]; }
under_home() { case "$1" in /root/* | /home/*) return 0 ;; *) return 1 ;; esac; }

# Makes $BUN_BIN a native Bun binary of at least BUN_MIN, installing one only when none fits.
ensure_bun() {
  if [ -x "$BUN_BIN" ] && version_ok "$("$BUN_BIN" --version 2>/dev/null || true)"; then
    return
  fi
  local found real
  found="$(command -v bun 2>/dev/null || true)"
  if [ -n "$found" ] && version_ok "$("$found" --version 2>/dev/null || true)"; then
    real="$(readlink -f "$found")"
    if is_elf "$real"; then
      link_bun "$real"
      return
    fi
  fi
  mkdir -p "$(dirname "$BUN_BIN")"
  if command -v npm >/dev/null 2>&1; then
    say "installing Bun $BUN_VERSION from npm"
    # A dropped connection mid-download fails npm outright: try a few times before giving up.
    local try
    for try in 1 2 3; do
      npm install -g --no-audit --no-fund --loglevel=error "bun@$BUN_VERSION" >/dev/null && break
      [ "$try" = 3 ] && die "npm install -g bun@$BUN_VERSION failed"
      say "npm install failed, retrying"
      sleep 2
    done
    local root
    root="$(npm root -g)"
    real="$(readlink -f "$(npm prefix -g)/bin/bun" || true)"
    # npm may skip bun's postinstall, which puts the native binary in place of bin/bun.exe.
    if ! is_elf "$real"; then
      real="$(find "$root/bun/node_modules" "$root/@oven" -path '*/bun-linux-*/bin/bun' -type f 2>/dev/null | head -n1 || true)"
    fi
    is_elf "$real" || die "npm installed Bun but no native binary was found under $root"
    link_bun "$real"
  elif command -v curl >/dev/null 2>&1; then
    say "installing Bun $BUN_VERSION with Bun's official installer into /usr/local"
    command -v unzip >/dev/null 2>&1 || die "Bun's installer needs unzip: apt-get install -y unzip"
    curl -fsSL https://bun.sh/install | BUN_INSTALL=/usr/local bash -s "bun-v$BUN_VERSION" >/dev/null
  else
    die "Bun is missing and neither npm nor curl is available to install it (apt-get install -y curl unzip)"
  fi
  version_ok "$("$BUN_BIN" --version 2>/dev/null || true)" || die "$BUN_BIN is not Bun >= $BUN_MIN"
}

link_bun() {
  [ "$1" = "$BUN_BIN" ] && return
  mkdir -p "$(dirname "$BUN_BIN")"
  if under_home "$1"; then
    # The service cannot see /root or /home: copy the binary out.
    install -m 0755 "$1" "$BUN_BIN"
  else
    ln -sfn "$1" "$BUN_BIN"
  fi
  say "using Bun $("$BUN_BIN" --version) at $BUN_BIN"
}

# Copies the app's runtime files (no tests, no dev tooling) into $1 with root-owned, world-readable
# modes, then installs the production dependencies there.
build_tree() {
  local dest="$1" bun="$2"
  rm -rf "$dest"
  mkdir -p "$dest"
  local items=(src db bin systemd package.json bun.lock tsconfig.json bunfig.toml README.md)
  local present=()
  for i in "${items[@]}"; do [ -e "$SRC/$i" ] && present+=("$i"); done
  tar -C "$SRC" --exclude='*.test.ts' --exclude='node_modules' -cf - "${present[@]}" |
    tar -C "$dest" --no-same-owner --no-same-permissions -xf -
  # --frozen-lockfile: the installed dependency tree is exactly the one the repository tested.
  (cd "$dest" && "$bun" install --production --frozen-lockfile --no-progress >/dev/null) ||
    die "bun install --production failed in $dest"
  # The app's own files are data to bun (0644; only bin/pexd runs directly); dependencies keep
  # their executable bits but lose any group/other write.
  find "$dest" -path "$dest/node_modules" -prune -o -type d -exec chmod 0755 {} + -o -type f -exec chmod 0644 {} +
  chmod -R u+rwX,go+rX,go-w "$dest/node_modules"
  chmod 0755 "$dest/bin/pexd"
  if [ "$(id -u)" = 0 ]; then chown -R root:root "$dest"; fi
}

# A new env file from the template, with a random API token (shown once) and mode 0640: the
# installed service never starts with its mutating routes open to the internet.
new_env_file() {
  local dest="$1" token
  token="$(head -c 32 /dev/urandom | od -An -vtx1 | tr -d ' \n')"
  [ "${#token}" = 64 ] || die "could not read 32 random bytes from /dev/urandom"
  # Never readable by others, not even for a moment.
  (umask 077 && sed "s/^#PEXD_API_TOKEN=\$/PEXD_API_TOKEN=$token/" "$SRC/systemd/pexd.env" >"$dest.tmp")
  grep -q "^PEXD_API_TOKEN=$token\$" "$dest.tmp" || die "the env template has no #PEXD_API_TOKEN= line"
  chmod 0640 "$dest.tmp"
  mv "$dest.tmp" "$dest"
  say "API token for the mutating routes (shown once; it is in $dest):"
  printf '\n    %s\n\n' "$token"
}

# Reads one variable from the env file the service uses (a systemd EnvironmentFile of KEY=value
# lines, which bash reads the same way).
env_value() {
  (
    set +u
    set -a
    # shellcheck disable=SC1090
    . "$ETC/pexd.env" >/dev/null 2>&1 || true
    eval "printf '%s' \"\${$1:-$2}\""
  )
}

# ---- staged install: files only, no users, no Bun, no systemd --------------------------------
if [ -n "$DESTDIR" ]; then
  bun="$(command -v bun 2>/dev/null || true)"
  [ -n "$bun" ] || bun="$BUN_BIN"
  [ -x "$bun" ] || die "a staged install needs bun on PATH to install the dependencies"
  say "staging into $DESTDIR"
  build_tree "$DESTDIR$APP" "$bun"
  install -d -m 0755 "$DESTDIR/etc/systemd/system"
  install -m 0644 "$SRC/systemd/pexd.service" "$DESTDIR$UNIT"
  install -d -m 0750 "$DESTDIR$ETC" "$DESTDIR$DATA"
  [ -e "$DESTDIR$ETC/pexd.env" ] || new_env_file "$DESTDIR$ETC/pexd.env"
  # Ownership needs the pexd account, which a staged install does not create.
  if [ "$(id -u)" = 0 ] && getent group pexd >/dev/null; then
    chown root:pexd "$DESTDIR$ETC" "$DESTDIR$ETC/pexd.env"
    chown pexd:pexd "$DESTDIR$DATA"
  fi
  say "staged: $DESTDIR$APP, $DESTDIR$UNIT, $DESTDIR$ETC/pexd.env, $DESTDIR$DATA"
  exit 0
fi

# ---- live install -------------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || die "run as root: sudo make all"
# The app directory is replaced on every install: a checkout inside it would be deleted.
case "$SRC/" in "$APP/"* | "$APP.new/"* | "$APP.old/"*) die "run make all from a checkout outside $APP (it replaces $APP)" ;; esac
if [ ! -d /run/systemd/system ]; then
  die "systemd is not running (PID 1 is $(ps -o comm= -p 1 2>/dev/null || echo unknown)), so the service cannot be installed here.
  On a VPS booted with systemd run 'sudo make all' again; to only stage the files, run: make all DESTDIR=/some/dir"
fi

ensure_bun

if ! getent group pexd >/dev/null; then groupadd --system pexd; fi
if ! id -u pexd >/dev/null 2>&1; then
  useradd --system --gid pexd --home-dir "$DATA" --no-create-home --shell /usr/sbin/nologin \
    --comment "pexd service" pexd
  say "created system user pexd"
fi

# Build the new tree next to the old one and swap, so a failed build leaves the running version.
say "installing the app into $APP"
build_tree "$APP.new" "$BUN_BIN"
if [ -d "$APP" ]; then
  rm -rf "$APP.old"
  mv "$APP" "$APP.old"
fi
mv "$APP.new" "$APP"
rm -rf "$APP.old"

install -d -m 0750 -o root -g pexd "$ETC"
if [ -e "$ETC/pexd.env" ]; then
  say "keeping $ETC/pexd.env (the current template is $APP/systemd/pexd.env)"
else
  new_env_file "$ETC/pexd.env"
  chown root:pexd "$ETC/pexd.env"
  say "installed $ETC/pexd.env (edit it, then: systemctl restart pexd)"
fi
# StateDirectory= creates it too; doing it here makes the data directory's owner explicit.
install -d -m 0750 -o pexd -g pexd "$DATA"
install -m 0644 "$SRC/systemd/pexd.service" "$UNIT"

systemctl daemon-reload
systemctl enable --quiet pexd.service
# restart also starts a stopped service: a second `make all` is an in-place upgrade.
systemctl restart pexd.service

host="$(env_value PEXD_HOST 127.0.0.1)"
port="$(env_value PEXD_PORT 8081)"
case "$host" in 0.0.0.0 | '') probe=127.0.0.1 ;; :: | '[::]') probe='[::1]' ;; *:*) probe="[$host]" ;; *) probe="$host" ;; esac
health="http://$probe:$port/health"
say "waiting for $health"
# The probe is local: a proxy from the environment must not carry it.
if ! (cd / && env -u http_proxy -u HTTP_PROXY -u https_proxy -u HTTPS_PROXY -u all_proxy -u ALL_PROXY "$BUN_BIN" -e '
  const url = process.argv[1], end = Date.now() + 30_000;
  for (;;) {
    try { if ((await fetch(url, { signal: AbortSignal.timeout(2000) })).ok) process.exit(0); } catch {}
    if (Date.now() > end) process.exit(1);
    await Bun.sleep(200);
  }' "$health"); then
  systemctl --no-pager --full status pexd.service || true
  journalctl --no-pager -u pexd.service -n 30 || true
  die "pexd did not become healthy at $health"
fi

systemctl --no-pager --full status pexd.service | head -n 12 || true
case "$host" in
0.0.0.0 | :: | '[::]' | '')
  addr="$(hostname -I 2>/dev/null | awk '{print $1}')"
  url="http://${addr:-127.0.0.1}:$port/"
  ;;
*) url="http://$probe:$port/" ;;
esac
say "pexd is running: $url  (logs: journalctl -u pexd -f)"
