# strata image: a portable (x86-64-v3) Release build on Debian bookworm.
# The build runs the same script as the host build (deploy/build.sh), so what
# the image builds is what CI builds. (Issue 7 brings the full container
# story: health check, compose, Kubernetes.)
FROM debian:bookworm-slim AS build
WORKDIR /src
COPY . .
RUN STRATA_NATIVE=OFF bash deploy/build.sh && ctest --test-dir build -L unit --output-on-failure

FROM debian:bookworm-slim
# The runtime libraries of strata-server and strata (from `ldd`).
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      libabsl20220623 libc-ares2 libcivetweb1 libgomp1 libgrpc++1.51 libgrpc29 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libprotobuf32 libre2-9 libssl3 \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home /var/lib/strata strata \
    && mkdir -p /var/lib/strata/models /var/lib/strata/data \
    && chown -R strata /var/lib/strata
COPY --from=build /src/build/bin/strata /src/build/bin/strata-server /usr/local/bin/
COPY --from=build /src/data /usr/share/strata/data
USER strata
VOLUME /var/lib/strata/models
EXPOSE 50051 9464
ENTRYPOINT ["strata-server", "--host=0.0.0.0", "--port=50051", "--metrics_port=9464", \
            "--model_root=/var/lib/strata/models", "--data_root=/var/lib/strata/data"]
