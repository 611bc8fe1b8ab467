#!/usr/bin/env bash
# The build stage of the strata image (Dockerfile), also run on the host by
# the ImageRecipe e2e test, so that what the image builds is tested:
#   bash deploy/image/build.sh DEST
# Installs the build packages, builds strata, strata-server and strata-stream
# portably (Release, -march=x86-64-v3, no tests or benchmarks) in BUILD_DIR
# (default build-image/) and stages the runtime tree into DEST:
#   DEST/usr/local/bin/strata, DEST/usr/local/bin/strata-server,
#   DEST/usr/local/bin/strata-stream     (NATS JetStream reader, deploy/k8s/nats/)
#   DEST/usr/share/strata/data/          the demo data set and its config
#   DEST/usr/share/strata/image/         runtime.sh (for the runtime stage)
set -euo pipefail
dest=${1:?usage: build.sh DEST}
cd "$(dirname "$0")/../.."

bash deploy/install-deps.sh
build_dir=${BUILD_DIR:-build-image}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DSTRATA_NATIVE=OFF \
  -DSTRATA_BUILD_TESTS=OFF -DSTRATA_BUILD_BENCH=OFF >/dev/null
cmake --build "$build_dir" -j"$(nproc)" --target strata strata-server strata-stream

rm -rf "$dest"
install -d "$dest/usr/local/bin" "$dest/usr/share/strata/data" "$dest/usr/share/strata/image"
for bin in strata strata-server strata-stream; do
  install -m 755 "$build_dir/bin/$bin" "$dest/usr/local/bin/"
  strip --strip-unneeded "$dest/usr/local/bin/$bin"
done
cp -r data/. "$dest/usr/share/strata/data/"
install -m 755 deploy/image/runtime.sh "$dest/usr/share/strata/image/"
echo "build.sh: staged $(du -sh "$dest" | cut -f1) in $dest"
