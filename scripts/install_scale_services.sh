#!/usr/bin/env bash
# Installs what the multi-replica tests run (tests/scale): PostgreSQL, Redis and nginx from Debian
# packages, when any is missing. Needs root (or passwordless sudo); does nothing when all are there.
set -euo pipefail
have() {
  compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null && command -v redis-server >/dev/null &&
    { command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]]; }
}
have && exit 0
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo -n"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends postgresql redis-server nginx-light >/dev/null
# The packages start system-wide services; the tests run private instances, so stop those again.
for service in postgresql redis-server nginx; do
  $SUDO service "$service" stop >/dev/null 2>&1 || true
done
have
