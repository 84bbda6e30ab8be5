#!/usr/bin/env bash
# Installs the Debian packages gentrain needs (idempotent: installs only what is missing).
set -euo pipefail
packages=(libopenmpi-dev openmpi-bin libopenblas-dev libdnnl-dev zlib1g-dev libcairo2-dev fonts-dejavu-core dataset-fashion-mnist pkg-config iproute2 procps openssh-client
  lmod zsh man-db)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "all packages present: ${packages[*]}"
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}"
