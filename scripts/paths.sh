# Where pexd is installed; sourced by install.sh and uninstall.sh so the two never disagree.
# DESTDIR (optional, no trailing slash) stages everything under another root.
DESTDIR="${DESTDIR:-}"
DESTDIR="${DESTDIR%/}"
APP=/opt/pexd
DATA=/var/lib/pexd
ETC=/etc/pexd
UNIT=/etc/systemd/system/pexd.service
