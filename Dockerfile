# strata image: strata-server, strata-stream and the strata CLI, a portable
# (x86-64-v3) Release build on Debian bookworm, run as an unprivileged user.
#
#   docker build -t strata .
#   docker run -p 50051:50051 -p 9464:9464 -v strata-models:/var/lib/strata/models strata
#
# strata-stream (records from NATS JetStream, metrics on 9465) is the same
# image with another entrypoint: deploy/compose.nats.yaml, deploy/k8s/nats/.
#
# Every step lives in a script the Dockerfile only calls: deploy/image/build.sh
# (build and stage) and deploy/image/runtime.sh (runtime libraries, user,
# dirs). The ImageRecipe e2e test runs both on the host, starts the staged
# server with this ENTRYPOINT's flags and runs this HEALTHCHECK against it.
FROM debian:bookworm-slim AS build
WORKDIR /src
COPY . .
RUN bash deploy/image/build.sh /stage

FROM debian:bookworm-slim
COPY --from=build /stage/ /
RUN bash /usr/share/strata/image/runtime.sh install
USER strata
WORKDIR /var/lib/strata
# The model store; share it (ReadWriteMany) between replicas.
VOLUME /var/lib/strata/models
# gRPC, Prometheus metrics.
EXPOSE 50051 9464
ENV STRATA_SERVER=127.0.0.1:50051
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["strata", "health", "--timeout=3", "--quiet"]
# Flags after the image name are appended and win (e.g. --dynamic_batch_rows=64,
# or --flagfile=/etc/strata/flags from a mounted ConfigMap).
ENTRYPOINT ["strata-server", "--host=0.0.0.0", "--port=50051", "--metrics_port=9464", "--model_root=/var/lib/strata/models", "--data_root=/var/lib/strata/data"]
