#!/usr/bin/env bash
# What the alert-rule tests (tests/deploy/test_prometheus_rules.py) need from Debian: promtool, shipped by the
# `prometheus` package (2.42 on bookworm). Installed once, when missing. Only promtool is wanted: while
# installing, a policy-rc.d (the Debian mechanism for this) forbids starting the package's server, unless the
# machine already has one; on a host with systemd the unit Debian enables for the next boot is disabled again.
set -euo pipefail
command -v promtool >/dev/null 2>&1 && exit 0
echo "installing prometheus (Debian package, for promtool: the alert-rule tests)"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  trap '$sudo rm -f "$policy"' EXIT
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 0755 "$policy"
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus
if [ -d /run/systemd/system ] && systemctl is-enabled --quiet prometheus 2>/dev/null; then
  $sudo systemctl disable --now prometheus
fi
command -v promtool >/dev/null
