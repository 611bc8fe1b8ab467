#!/usr/bin/env bash
# The runtime stage of the strata image (Dockerfile):
#   bash runtime.sh install      installs the shared libraries strata needs and
#                                creates the unprivileged user and its dirs
#   bash runtime.sh check ROOT   checks, on any Debian machine, that every
#                                shared library the binaries staged in ROOT
#                                (by build.sh) load comes from a package that
#                                `install` installs or debian:bookworm-slim has
# The ImageRecipe e2e test runs `check`, so the list below cannot fall behind
# the binaries.
set -euo pipefail

# Packages providing the libraries of strata, strata-server and strata-stream
# (Debian 12); libnats3.4 and libprotobuf-c1: strata-stream's NATS client;
# libopenmpi3 and its own (hwloc, libevent, udev): `strata train --local` is
# data-parallel under mpirun. openmpi-bin (mpirun) and openssh-client and
# -server: the image is also the launcher and the workers of the MPIJob in
# deploy/k8s/training/ (Kubeflow's MPI Operator starts workers over ssh).
RUNTIME_PACKAGES=(
  libabsl20220623 libc-ares2 libcivetweb1 libgomp1 libgrpc++1.51 libgrpc29
  libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libprotobuf32 libre2-9 libssl3
  zlib1g libnats3.4 libprotobuf-c1
  libopenmpi3 libhwloc15 libevent-core-2.1-7 libevent-pthreads-2.1-7 libudev1
  openmpi-bin openssh-client openssh-server
)
# In debian:bookworm-slim already (priority required).
BASE_PACKAGES=(libc6 libgcc-s1 libstdc++6 zlib1g libzstd1 liblzma5 libbz2-1.0)

STRATA_UID=10001
STRATA_HOME=/var/lib/strata

case "${1:-}" in
  install)
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${RUNTIME_PACKAGES[@]}" >/dev/null
    rm -rf /var/lib/apt/lists/*
    useradd --system --uid "$STRATA_UID" --home-dir "$STRATA_HOME" --shell /usr/sbin/nologin strata
    install -d -o strata -g strata "$STRATA_HOME" "$STRATA_HOME/models" "$STRATA_HOME/data"
    cp -r /usr/share/strata/data/. "$STRATA_HOME/data/"
    chown -R strata:strata "$STRATA_HOME/data"
    ;;
  check)
    root=${2:?usage: runtime.sh check ROOT}
    allowed=" ${RUNTIME_PACKAGES[*]} ${BASE_PACKAGES[*]} "
    status=0
    for bin in "$root"/usr/local/bin/*; do
      missing=$(ldd "$bin" | grep -c "not found" || true)
      if [[ $missing -gt 0 ]]; then
        echo "runtime.sh: $bin: $(ldd "$bin" | grep "not found" | head -3)" >&2
        status=1
      fi
      for lib in $(ldd "$bin" | awk '/=> \//{print $3}'); do
        real=$(readlink -f "$lib")
        # Merged /usr: dpkg may know the file under /lib or /usr/lib.
        pkg=$( (dpkg -S "$real" || dpkg -S "${real#/usr}" || dpkg -S "$lib") 2>/dev/null |
          head -1 | cut -d: -f1)
        if [[ -z $pkg ]]; then
          echo "runtime.sh: $(basename "$bin") loads $lib, which no package owns" >&2
          status=1
        elif [[ $allowed != *" $pkg "* ]]; then
          echo "runtime.sh: $(basename "$bin") loads $lib from $pkg, which the image does not install" >&2
          status=1
        fi
      done
    done
    [[ $status -eq 0 ]] && echo "runtime.sh: every library of $(ls "$root"/usr/local/bin | tr '\n' ' ')comes from an installed package"
    exit $status
    ;;
  *)
    echo "usage: runtime.sh install | check ROOT" >&2
    exit 2
    ;;
esac
