# Where pexd is installed, and the helpers both scripts need; sourced by install.sh and
# uninstall.sh so the two never disagree. DESTDIR (optional, no trailing slash) stages everything
# under another root.
DESTDIR="${DESTDIR:-}"
DESTDIR="${DESTDIR%/}"
APP=/opt/pexd
BIN=/usr/local/bin/pexd
DATA=/var/lib/pexd
ETC=/etc/pexd
UNIT=/etc/systemd/system/pexd.service
# Scale-out (make all INSTANCES=8081,8082): one pexd@<port>.service per instance behind nginx.
TEMPLATE_UNIT=/etc/systemd/system/pexd@.service
NGINX_SITE=/etc/nginx/sites-available/pexd
NGINX_LINK=/etc/nginx/sites-enabled/pexd
# Written when the install disabled Debian's default nginx site (it would answer port 80 first),
# so that uninstall can put it back.
NGINX_DEFAULT_MARK=/etc/nginx/.pexd-disabled-default

# The ports of the pexd@ instances that are enabled or running, one per line.
installed_instances() {
  {
    ls /etc/systemd/system/*.wants/ 2>/dev/null | sed -n 's/^pexd@\([0-9]*\)\.service$/\1/p'
    systemctl list-units --all --plain --no-legend 'pexd@*.service' 2>/dev/null | sed -n 's/^pexd@\([0-9]*\)\.service .*/\1/p'
  } | sort -un
}

# Stops and disables the pexd@ instances whose port is not among the arguments.
stop_instances() {
  local port keep
  for port in $(installed_instances); do
    keep=
    for k in "$@"; do [ "$k" = "$port" ] && keep=1; done
    [ -n "$keep" ] && continue
    systemctl disable --now "pexd@$port.service" >/dev/null 2>&1 || true
    systemctl reset-failed "pexd@$port.service" >/dev/null 2>&1 || true
    printf 'pexd: stopped and disabled pexd@%s.service\n' "$port"
  done
}

# Removes pexd's nginx site, gives Debian's default site back if pexd took it, reloads nginx.
remove_nginx_site() {
  [ -e "$NGINX_SITE" ] || [ -L "$NGINX_LINK" ] || return 0
  rm -f "$NGINX_LINK" "$NGINX_SITE"
  if [ -e "$NGINX_DEFAULT_MARK" ]; then
    [ -e /etc/nginx/sites-available/default ] && ln -sfn /etc/nginx/sites-available/default /etc/nginx/sites-enabled/default
    rm -f "$NGINX_DEFAULT_MARK"
  fi
  if [ -d /run/systemd/system ] && systemctl is-active --quiet nginx 2>/dev/null; then
    systemctl reload nginx || true
  fi
  printf 'pexd: removed the nginx site %s\n' "$NGINX_SITE"
}
