#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs every Debian package mto-agent needs to build, test and run its demo (idempotent).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libboost1.81-dev libboost-json1.81-dev libboost-program-options1.81-dev
  libpaho-mqttpp-dev libpaho-mqtt-dev libssl-dev
  libsqlite3-dev sqlite3
  libspdlog-dev libfmt-dev
  libtomlplusplus-dev
  libsystemd-dev systemd
  libgtest-dev libgmock-dev
  mosquitto mosquitto-clients
  python3 python3-paho-mqtt
  libopencv-dev hershey-fonts-data fonts-dejavu-core openscad prusa-slicer xvfb
  libzint-dev libcairo2-dev libzbar-dev zbar-tools cups-client
  ffmpeg chromium socat
  procps util-linux
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: packages are missing and this is not root; run as root or install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
