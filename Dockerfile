# strata image: a portable (x86-64-v3) Release build on Debian bookworm.
# The build runs the same script as the host build (deploy/build.sh), so what
# the image does is what CI exercises.
FROM debian:bookworm-slim AS build
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN STRATA_NATIVE=OFF bash deploy/build.sh && ctest --test-dir build -L unit --output-on-failure

FROM debian:bookworm-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      libprotobuf32 libabsl20220623 libgomp1 && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home /var/lib/strata strata
COPY --from=build /src/build/bin/strata /usr/local/bin/strata
COPY --from=build /src/data /usr/share/strata/data
USER strata
VOLUME /var/lib/strata/models
WORKDIR /var/lib/strata
ENTRYPOINT ["strata"]
CMD ["help"]
