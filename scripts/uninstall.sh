#!/usr/bin/env bash
# `make uninstall`: stops and removes the pexd service (or its pexd@ instances and nginx site) and app; keeps /var/lib/pexd, /etc/pexd and
# the pexd user unless PURGE=1. With DESTDIR, removes a staged install instead. See docs/operations.md.
set -euo pipefail

# shellcheck source=paths.sh
. "$(dirname "${BASH_SOURCE[0]}")/paths.sh"
PURGE="${PURGE:-}"

say() { printf 'pexd uninstall: %s\n' "$*"; }
die() {
  printf 'pexd uninstall: error: %s\n' "$*" >&2
  exit 1
}
purge() { [ "$PURGE" = 1 ] || [ "$PURGE" = yes ] || [ "$PURGE" = true ]; }

if [ -n "$DESTDIR" ]; then
  rm -rf "$DESTDIR$APP" "$DESTDIR$APP.new" "$DESTDIR$BIN" "$DESTDIR$UNIT" "$DESTDIR$TEMPLATE_UNIT" "$DESTDIR$NGINX_SITE"
  if purge; then rm -rf "$DESTDIR$DATA" "$DESTDIR$ETC"; fi
  say "removed the staged install under $DESTDIR$(purge || echo ' (kept data and env file)')"
  exit 0
fi

[ "$(id -u)" = 0 ] || die "run as root: sudo make uninstall"

if [ -d /run/systemd/system ]; then
  systemctl disable --now pexd.service >/dev/null 2>&1 || true
  # Scale-out instances (make all INSTANCES=…), if any.
  stop_instances
else
  say "systemd is not running: removing the files only"
fi
remove_nginx_site
rm -f "$UNIT" "$TEMPLATE_UNIT"
rm -rf "/etc/systemd/system/pexd.service.d"
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl reset-failed pexd.service >/dev/null 2>&1 || true
fi
rm -rf "$APP" "$APP.new" "$APP.old" "$BIN" "$BIN.new" /var/cache/pexd

if purge; then
  rm -rf "$DATA" "$ETC"
  if id -u pexd >/dev/null 2>&1; then userdel pexd >/dev/null 2>&1 || true; fi
  if getent group pexd >/dev/null; then groupdel pexd >/dev/null 2>&1 || true; fi
  say "removed pexd, its data ($DATA), settings ($ETC) and the pexd user"
else
  say "removed pexd; kept the data in $DATA and the settings in $ETC (PURGE=1 removes them)"
fi

