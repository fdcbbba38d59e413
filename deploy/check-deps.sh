#!/usr/bin/env bash
# What tests/deploy needs from Debian, installed once when missing:
#   docker-compose  validates deploy/compose*.yaml offline (`docker-compose config -q`: the Compose file schema,
#                   interpolation, references between services and volumes); no Docker daemon needed
#   nginx           `nginx -t` on deploy/nginx/nginx.conf (and mime.types, which the config includes)
# Debian's nginx package would start a server on port 80 when installed: while installing, a policy-rc.d
# (the Debian mechanism for this) forbids starting services, unless the machine already has one.
set -euo pipefail
missing=()
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
{ command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; } && [ -f /etc/nginx/mime.types ] || missing+=(nginx)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing ${missing[*]} (Debian packages for the deploy tests)"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  trap '$sudo rm -f "$policy"' EXIT
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 0755 "$policy"
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
