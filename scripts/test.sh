#!/usr/bin/env bash
# `make test`: installs what the tests need, then runs them (`bun test`), then says what was skipped.
# On Debian or Ubuntu as root it installs the missing Debian packages itself (without starting their
# services); elsewhere it names the command that would. A requirement can be opted out of by name:
#   PEXD_TEST_SKIP=chromium,systemd make test      (names: test/helpers/requirements.ts; `all` for all)
# Extra arguments go to `bun test` (e.g. make test ARGS=test/fib.e2e.test.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
BUN="${BUN:-node_modules/.bin/bun}"

say() { printf 'make test: %s\n' "$*"; }
skip=",${PEXD_TEST_SKIP:-},"
opted() { [[ "$skip" == *",all,"* || "$skip" == *",$1,"* ]]; }
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }

# requirement name -> the Debian packages that provide it, and how to tell it is there.
need_pkgs=()
missing=()
want() { # name present-check packages…
  local name="$1" check="$2"
  shift 2
  opted "$name" && return 0
  eval "$check" && return 0
  missing+=("$name")
  need_pkgs+=("$@")
}
# Always: what the scripts and tests run themselves.
for b in python3 sqlite3 make curl; do have "$b" || need_pkgs+=("$b"); done
[ -e /etc/ssl/certs/ca-certificates.crt ] || need_pkgs+=(ca-certificates)
want chromium '[ -e /usr/bin/chromium ]' chromium
want promtool 'have promtool' prometheus
want prometheus-client '/usr/bin/python3 -c "import prometheus_client" 2>/dev/null' python3-prometheus-client
want systemd 'have systemd-analyze && have systemd-nspawn && have debootstrap' systemd systemd-container debootstrap
want postgres '[ -d /usr/lib/postgresql ]' postgresql
want redis 'have redis-server' redis-server
want nginx 'have nginx' nginx
# The benchmarks' load generator (make bench), cheap to have.
have wrk || need_pkgs+=(wrk)

if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing ${need_pkgs[*]} (apt-get)"
    # Installed, not started: the tests start their own throwaway servers on free ports.
    policy=/usr/sbin/policy-rc.d
    own_policy=
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=1
    fi
    trap '[ -n "$own_policy" ] && rm -f "$policy"' EXIT
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
    [ -n "$own_policy" ] && rm -f "$policy"
    own_policy=
  elif [ ${#missing[@]} -gt 0 ]; then
    say "missing: ${missing[*]} (packages: ${need_pkgs[*]})"
    say "install them:  sudo apt-get install -y ${need_pkgs[*]}   (or run: sudo make test)"
    say "or skip the tests that need them:  PEXD_TEST_SKIP=$(
      IFS=,
      echo "${missing[*]}"
    ) make test"
    exit 1
  fi
fi

# Test files run in parallel worker processes (one per core by default; PEXD_TEST_PARALLEL=1 for one
# at a time): most of the suite waits on real processes, sockets and containers, not on the CPU.
parallel="${PEXD_TEST_PARALLEL:-$(nproc 2>/dev/null || echo 2)}"
[ "$parallel" -ge 2 ] 2>/dev/null && par=(--parallel="$parallel") || par=()
status=0
"$BUN" test --timeout 60000 "${par[@]}" "$@" || status=$?

# What was not tested, and why (the per-test list is in bun's own summary above).
"$BUN" -e '
  const { REQUIREMENTS, optedOut, unknownOptOuts } = await import("./test/helpers/requirements.ts");
  const out = [...optedOut()].filter((n) => n in REQUIREMENTS);
  for (const n of out) console.log(`make test: skipped by PEXD_TEST_SKIP: ${n} — ${REQUIREMENTS[n].what}`);
  for (const n of unknownOptOuts()) console.log(`make test: PEXD_TEST_SKIP names "${n}", which is no requirement (known: ${Object.keys(REQUIREMENTS).join(", ")})`);
  if (!out.length) console.log("make test: nothing skipped by request");
'
exit "$status"
