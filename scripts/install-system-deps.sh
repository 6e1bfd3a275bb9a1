#!/usr/bin/env bash
# Install the Debian packages oscsim needs, only if they are missing: ngspice (circuit simulator),
# libngspice0-dev (its shared library, for PySpice), dataset-fashion-mnist (the Fashion-MNIST files),
# g++ (builds the fused CPU kernels of oscsim/kernels at first use).
set -euo pipefail
packages=(ngspice libngspice0-dev dataset-fashion-mnist g++)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing system packages: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
  echo "error: need root or sudo to run: apt-get install -y ${missing[*]}" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}" >/dev/null
