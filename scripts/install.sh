#!/usr/bin/env bash
# `make all`: installs pexd as a hardened systemd service (the executable /usr/local/bin/pexd, built
# here or given as PEXD_BIN=dist/pexd; data /var/lib/pexd; env /etc/pexd/pexd.env kept if present;
# docs and templates in /opt/pexd), or stages the same files under DESTDIR. See docs/operations.md.
# `make all INSTANCES=8081,8082 [NGINX_PORT=80] [PEXD_DATABASE_URL=…] [PEXD_REDIS_URL=…]` installs one
# pexd@<port>.service per port on a shared PostgreSQL (and Redis) behind nginx instead: see
# docs/operations.md, "Scale-out".
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=paths.sh
. "$SRC/scripts/paths.sh"
# The service is one executable (make build → dist/pexd, installed as $BIN from paths.sh): no Bun or
# Node on the server at run time.

say() { printf 'pexd install: %s\n' "$*"; }
die() {
  printf 'pexd install: error: %s\n' "$*" >&2
  exit 1
}

# Bun, to build the executable: the one on PATH, or the one `make` keeps in node_modules (fetched
# from npm by scripts/ensure-bun.sh, which installs npm first on Debian when it is missing).
build_bun() {
  local b
  b="$(command -v bun 2>/dev/null || true)"
  [ -n "$b" ] || b="$SRC/node_modules/.bin/bun"
  if [ ! -x "$b" ]; then
    bash "$SRC/scripts/ensure-bun.sh" >&2 || die "could not get Bun to build pexd (see above)"
  fi
  [ -x "$b" ] || die "no Bun at $b after scripts/ensure-bun.sh"
  printf '%s' "$b"
}

# Puts the executable at $1: PEXD_BIN when given (built elsewhere with `make build`, so that this
# server needs no Bun at all), else built here from the checkout in a scratch copy with only the
# production dependencies (the checkout's own node_modules are left as they are).
build_binary() {
  local out="$1"
  if [ -n "${PEXD_BIN:-}" ]; then
    [ -x "$PEXD_BIN" ] || die "PEXD_BIN=$PEXD_BIN is not an executable file"
    install -m 0755 "$PEXD_BIN" "$out"
  else
    local bun scratch
    bun="$(build_bun)"
    scratch="$(mktemp -d)"
    # shellcheck disable=SC2064
    trap "rm -rf '$scratch'" EXIT
    say "building the executable with Bun $("$bun" --version)"
    local items=(src db scripts/build.ts package.json bun.lock tsconfig.json bunfig.toml)
    local present=()
    for i in "${items[@]}"; do [ -e "$SRC/$i" ] && present+=("$i"); done
    tar -C "$SRC" --exclude='*.test.ts' --exclude='node_modules' -cf - "${present[@]}" | tar -C "$scratch" -xf -
    # --frozen-lockfile: exactly the dependency tree the repository tested.
    (cd "$scratch" && "$bun" install --production --frozen-lockfile --no-progress >/dev/null) ||
      die "bun install --production failed"
    (cd "$scratch" && "$bun" run scripts/build.ts --outfile "$out" >/dev/null) || die "building the executable failed"
    rm -rf "$scratch"
    trap - EXIT
  fi
  "$out" --version >/dev/null || die "the executable does not run on this machine: $out"
}

# The reference copy under /opt/pexd: the README, the docs and the unit/env/nginx templates (the
# service reads nothing from there).
doc_tree() {
  local dest="$1"
  rm -rf "$dest"
  mkdir -p "$dest"
  local present=()
  for i in README.md LICENSE CHANGELOG.md docs systemd; do [ -e "$SRC/$i" ] && present+=("$i"); done
  tar -C "$SRC" -cf - "${present[@]}" | tar -C "$dest" --no-same-owner --no-same-permissions -xf -
  find "$dest" -type d -exec chmod 0755 {} + -o -type f -exec chmod 0644 {} +
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

# Sets NAME=value in the env file $2 (in place of its commented or active line) when the caller
# passed NAME in the environment, e.g. `make all PEXD_DATABASE_URL=…`. The value may hold a password:
# it is never printed.
set_env_from_caller() {
  local name="$1" file="$2" value="${!1:-}"
  [ -n "$value" ] || return 0
  case "$value" in *[[:space:]\"\'\\\$]*) die "$name must not contain spaces, quotes, backslashes or \$" ;; esac
  (umask 077 && PEXD_VALUE="$value" awk -v name="$name" '
    BEGIN { line = name "=" ENVIRON["PEXD_VALUE"] }
    $0 ~ "^#?" name "=" { if (!done) print line; done = 1; next }
    { print }
    END { if (!done) print line }' "$file" >"$file.tmp") || die "could not write $file"
  chmod 0640 "$file.tmp"
  chown --reference="$file" "$file.tmp" 2>/dev/null || true
  mv "$file.tmp" "$file"
  say "set $name in $file"
}

# ---- scale-out: INSTANCES=8081,8082 (validated before anything is touched) ----------------------
INSTANCES="${INSTANCES:-}"
NGINX_PORT="${NGINX_PORT:-80}"
PORTS=()
if [ -n "$INSTANCES" ]; then
  IFS=', ' read -r -a PORTS <<<"$INSTANCES"
  seen=" "
  for p in "${PORTS[@]}"; do
    [[ "$p" =~ ^[0-9]+$ ]] && [ "$p" -ge 1024 ] && [ "$p" -le 65535 ] ||
      die "INSTANCES: '$p' is not a port from 1024 to 65535 (the instances run without the right to bind lower ports)"
    case "$seen" in *" $p "*) die "INSTANCES: port $p is listed twice" ;; esac
    seen="$seen$p "
  done
  [ "${#PORTS[@]}" -gt 0 ] || die "INSTANCES is empty: give the instances' ports, e.g. INSTANCES=8081,8082"
  [[ "$NGINX_PORT" =~ ^[0-9]+$ ]] && [ "$NGINX_PORT" -ge 1 ] && [ "$NGINX_PORT" -le 65535 ] || die "NGINX_PORT: '$NGINX_PORT' is not a port"
  case "$seen" in *" $NGINX_PORT "*) die "NGINX_PORT $NGINX_PORT is also an instance's port" ;; esac
  # Instances on separate SQLite files would each count on their own: they need the shared database.
  if [ -z "${PEXD_DATABASE_URL:-}" ] && ! grep -q '^PEXD_DATABASE_URL=.' "$DESTDIR$ETC/pexd.env" 2>/dev/null; then
    die "INSTANCES needs a shared PostgreSQL database: make all INSTANCES=$INSTANCES PEXD_DATABASE_URL=postgres://user:password@host/db
  (or set PEXD_DATABASE_URL in $ETC/pexd.env); see docs/operations.md, \"Scale-out\""
  fi
fi

# The shipped nginx site (systemd/nginx-pexd.conf) with its upstream block listing PORTS and its
# listen lines on NGINX_PORT.
render_nginx_site() {
  local servers="" p
  for p in "${PORTS[@]}"; do servers="$servers  server 127.0.0.1:$p max_fails=1 fail_timeout=2s;\n"; done
  awk -v servers="$servers" -v port="$NGINX_PORT" '
    /^upstream pexd \{/ { print; printf "%s", servers; skip = 1; next }
    skip && /^  server / { next }
    skip && /^\}/ { skip = 0 }
    { sub(/listen 80;/, "listen " port ";"); sub(/listen \[::\]:80;/, "listen [::]:" port ";"); print }' "$SRC/systemd/nginx-pexd.conf"
}

# Waits up to 30 s for $1 (a local /health URL) to answer 200 (asked by the executable itself:
# `pexd health`); on failure shows unit $2's status and log.
wait_healthy() {
  local url="$1" unit="$2" i
  # Up to 5 minutes: the first start of a new version applies its migrations first (rebuilding the
  # widgets table of a 10M-widget database took ~35 s).
  say "waiting for $url (migrations of a large database may take minutes)"
  for i in $(seq 1500); do
    # The probe is local: a proxy from the environment must not carry it.
    if env -u http_proxy -u HTTP_PROXY -u https_proxy -u HTTPS_PROXY -u all_proxy -u ALL_PROXY "$BIN" health "$url" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.2
  done
  systemctl --no-pager --full status "$unit" || true
  journalctl --no-pager -u "$unit" -n 30 || true
  die "$unit did not become healthy at $url"
}

# ---- staged install: files only, no users, no systemd ------------------------------------------
if [ -n "$DESTDIR" ]; then
  say "staging into $DESTDIR"
  install -d -m 0755 "$DESTDIR$(dirname "$BIN")"
  build_binary "$DESTDIR$BIN.new"
  mv -f "$DESTDIR$BIN.new" "$DESTDIR$BIN"
  doc_tree "$DESTDIR$APP"
  install -d -m 0755 "$DESTDIR/etc/systemd/system"
  install -m 0644 "$SRC/systemd/pexd.service" "$DESTDIR$UNIT"
  install -d -m 0750 "$DESTDIR$ETC" "$DESTDIR$DATA"
  [ -e "$DESTDIR$ETC/pexd.env" ] || new_env_file "$DESTDIR$ETC/pexd.env"
  set_env_from_caller PEXD_DATABASE_URL "$DESTDIR$ETC/pexd.env"
  set_env_from_caller PEXD_REDIS_URL "$DESTDIR$ETC/pexd.env"
  if [ "${#PORTS[@]}" -gt 0 ]; then
    install -m 0644 "$SRC/systemd/pexd@.service" "$DESTDIR$TEMPLATE_UNIT"
    install -d -m 0755 "$DESTDIR$(dirname "$NGINX_SITE")"
    render_nginx_site >"$DESTDIR$NGINX_SITE"
    chmod 0644 "$DESTDIR$NGINX_SITE"
  fi
  # Ownership needs the pexd account, which a staged install does not create.
  if [ "$(id -u)" = 0 ] && getent group pexd >/dev/null; then
    chown root:pexd "$DESTDIR$ETC" "$DESTDIR$ETC/pexd.env"
    chown pexd:pexd "$DESTDIR$DATA"
  fi
  say "staged: $DESTDIR$BIN, $DESTDIR$APP, $DESTDIR$UNIT, $DESTDIR$ETC/pexd.env, $DESTDIR$DATA"
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

if ! getent group pexd >/dev/null; then groupadd --system pexd; fi
if ! id -u pexd >/dev/null 2>&1; then
  useradd --system --gid pexd --home-dir "$DATA" --no-create-home --shell /usr/sbin/nologin \
    --comment "pexd service" pexd
  say "created system user pexd"
fi

# Build next to the running executable and rename over it (the running service keeps its file until
# it restarts), so a failed build leaves the running version in place.
build_binary "$BIN.new"
chown root:root "$BIN.new"
mv -f "$BIN.new" "$BIN"
say "installed $BIN ($("$BIN" --version))"
doc_tree "$APP.new"
rm -rf "$APP.old"
if [ -d "$APP" ]; then mv "$APP" "$APP.old"; fi
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
set_env_from_caller PEXD_DATABASE_URL "$ETC/pexd.env"
set_env_from_caller PEXD_REDIS_URL "$ETC/pexd.env"
# StateDirectory= creates it too; doing it here makes the data directory's owner explicit.
install -d -m 0750 -o pexd -g pexd "$DATA"
install -m 0644 "$SRC/systemd/pexd.service" "$UNIT"

if [ "${#PORTS[@]}" -gt 0 ]; then
  # ---- scale-out: pexd@<port> instances behind nginx ----
  install -m 0644 "$SRC/systemd/pexd@.service" "$TEMPLATE_UNIT"
  systemctl daemon-reload
  # The single service would hold port 8081 and a database of its own.
  if systemctl is-enabled --quiet pexd.service 2>/dev/null || systemctl is-active --quiet pexd.service; then
    systemctl disable --now --quiet pexd.service || true
    say "stopped and disabled pexd.service: the instances replace it"
  fi
  stop_instances "${PORTS[@]}"
  # One instance at a time, each healthy before the next: an upgrade never takes them all down.
  for p in "${PORTS[@]}"; do
    systemctl enable --quiet "pexd@$p.service"
    systemctl restart "pexd@$p.service"
    wait_healthy "http://127.0.0.1:$p/health" "pexd@$p.service"
  done

  if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    command -v apt-get >/dev/null 2>&1 || die "nginx is not installed and apt-get is not available to install it"
    say "installing nginx (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null || die "apt-get install nginx failed"
  fi
  install -d -m 0755 "$(dirname "$NGINX_SITE")" "$(dirname "$NGINX_LINK")"
  render_nginx_site >"$NGINX_SITE.tmp"
  chmod 0644 "$NGINX_SITE.tmp"
  mv "$NGINX_SITE.tmp" "$NGINX_SITE"
  ln -sfn "$NGINX_SITE" "$NGINX_LINK"
  # Debian's default site also listens on port 80 (as default_server) and would answer first.
  if [ "$NGINX_PORT" = 80 ] && [ -L /etc/nginx/sites-enabled/default ]; then
    rm -f /etc/nginx/sites-enabled/default
    touch "$NGINX_DEFAULT_MARK"
    say "disabled nginx's default site (make uninstall puts it back)"
  fi
  nginx -t -q 2>/tmp/pexd-nginx-test.$$ || {
    cat /tmp/pexd-nginx-test.$$ >&2
    rm -f /tmp/pexd-nginx-test.$$
    die "nginx rejects the configuration (see above); the site is $NGINX_SITE"
  }
  rm -f /tmp/pexd-nginx-test.$$
  systemctl enable --quiet nginx
  systemctl reload-or-restart nginx
  wait_healthy "http://127.0.0.1:$NGINX_PORT/health" nginx.service
  addr="$(hostname -I 2>/dev/null | awk '{print $1}')"
  say "pexd is running: ${#PORTS[@]} instances (pexd@{${INSTANCES// /}}) behind nginx at http://${addr:-127.0.0.1}:$NGINX_PORT/  (logs: journalctl -u 'pexd@*' -f)"
  exit 0
fi

# ---- one service: pexd.service ----
stop_instances
remove_nginx_site
rm -f "$TEMPLATE_UNIT"
systemctl daemon-reload
systemctl enable --quiet pexd.service
# restart also starts a stopped service: a second `make all` is an in-place upgrade.
systemctl restart pexd.service

host="$(env_value PEXD_HOST 127.0.0.1)"
port="$(env_value PEXD_PORT 8081)"
case "$host" in 0.0.0.0 | '') probe=127.0.0.1 ;; :: | '[::]') probe='[::1]' ;; *:*) probe="[$host]" ;; *) probe="$host" ;; esac
wait_healthy "http://$probe:$port/health" pexd.service

systemctl --no-pager --full status pexd.service | head -n 12 || true
case "$host" in
0.0.0.0 | :: | '[::]' | '')
  addr="$(hostname -I 2>/dev/null | awk '{print $1}')"
  url="http://${addr:-127.0.0.1}:$port/"
  ;;
*) url="http://$probe:$port/" ;;
esac
say "pexd is running: $url  (logs: journalctl -u pexd -f)"
