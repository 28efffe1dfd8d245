# Builds the `gatehouse` binary and runs it on a slim base.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin gatehouse

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/gatehouse /usr/local/bin/gatehouse
USER 65534
ENV GATEHOUSE_DATA_DIR=/tmp/gatehouse-data
EXPOSE 8080
ENTRYPOINT ["gatehouse"]
CMD ["serve"]
