# The delegraph service image; used by docker-compose.yml.
FROM rust:1.95-bookworm AS build
# librdkafka is built from source (rdkafka's bundled build) with TLS.
RUN apt-get update && apt-get install -y --no-install-recommends cmake libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --profile bench-fast -p delegraph \
    && cp target/bench-fast/delegraph /usr/local/bin/delegraph

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/delegraph /usr/local/bin/delegraph
COPY fixtures /opt/delegraph/fixtures
COPY queries /opt/delegraph/queries
COPY deploy/delegraph.toml /etc/delegraph/delegraph.toml
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["delegraph"]
CMD ["serve", "--config", "/etc/delegraph/delegraph.toml"]
