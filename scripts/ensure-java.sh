#!/usr/bin/env bash
# PySpark needs a Java 17+ runtime. Install Debian's when none is present and we may.
set -euo pipefail
if command -v java >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing a Java runtime for PySpark (openjdk-17-jre-headless)..." >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
else
  echo "PySpark needs Java 17 or newer; install it (e.g. openjdk-17-jre-headless) and run make again." >&2
  exit 1
fi
