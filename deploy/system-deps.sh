#!/usr/bin/env bash
# Debian packages the test suite needs beyond Python: a headless browser for the
# report tests. Installs only what is missing; needs root or sudo.
set -euo pipefail
packages=()
command -v chromium >/dev/null || packages+=(chromium)
[ ${#packages[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
