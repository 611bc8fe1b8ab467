#!/usr/bin/env bash
# Installs every Debian package that building, testing and running strata needs
# (prometheus and curl: the real Prometheus server and promtool for the metric
# tests; openssl: throwaway TLS certificates in tests; zlib1g-dev: the
# benchmarks read the gzipped MNIST files; python3-grpcio: the Python client
# and its e2e test; python3-numpy: that test passes numpy arrays (the client
# itself does not need numpy); python3-yaml: the deploy manifest test reads YAML;
# chromium: the report test renders HTML headless; openmpi-bin and
# libopenmpi-dev: data-parallel training under mpirun, and its tests;
# nats-server and libnats-dev: strata-stream on NATS JetStream, and its tests
# against a real server; python3-venv, python3-pip (which brings
# python3-wheel) and python3-setuptools: the test that pip-installs
# client/python into a fresh venv).
#   bash deploy/install-deps.sh [EXTRA_PACKAGE ...]
# Idempotent: prints nothing and touches nothing when all packages are present.
# Uses sudo when not root.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  libeigen3-dev libabsl-dev zlib1g-dev
  libprotobuf-dev protobuf-compiler
  libgrpc++-dev protobuf-compiler-grpc
  prometheus-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  prometheus curl openssl
  python3-grpcio python3-numpy python3-yaml chromium
  openmpi-bin libopenmpi-dev
  nats-server libnats-dev python3-venv python3-pip python3-setuptools
)
# Extra packages a caller needs (deploy/fuzz.sh: clang and its runtimes).
PACKAGES+=("$@")

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
