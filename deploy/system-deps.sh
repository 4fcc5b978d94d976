#!/usr/bin/env bash
# Debian packages the test suite needs beyond Python: a headless browser for the
# report tests, PostgreSQL for the team-mode tests (a throwaway cluster is started
# from its binaries) and a Java runtime for PySpark. Installs only what is missing;
# needs root or sudo.
set -euo pipefail
packages=()
command -v chromium >/dev/null || packages+=(chromium)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || packages+=(postgresql)
command -v java >/dev/null || packages+=(default-jre-headless)
[ ${#packages[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
