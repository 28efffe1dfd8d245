# Builds the `gatehouse` binary and runs it on a slim base.
#
#   docker build -t gatehouse . && docker run -p 8080:8080 -v gatehouse-data:/data gatehouse
#
# The embedded default (SQLite and the generated master key) lives on the /data volume; for
# anything beyond a trial, set DATABASE_URL, REDIS_URL and GATEHOUSE_MASTER_KEY (see
# docs/operations.md) and GATEHOUSE_PUBLIC_URL to the address your users reach.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin gatehouse

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir /data && chown 65534:65534 /data
COPY --from=build /src/target/release/gatehouse /usr/local/bin/gatehouse
USER 65534
# Inside a container the gateway must listen on every interface to be reachable.
ENV GATEHOUSE_LISTEN=0.0.0.0:8080 \
    GATEHOUSE_PUBLIC_URL=http://localhost:8080 \
    GATEHOUSE_DATA_DIR=/data
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["gatehouse"]
CMD ["serve"]
