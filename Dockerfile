# Builds the delegraph binary; used by docker-compose.yml.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p delegraph

FROM debian:bookworm-slim
COPY --from=build /src/target/release/delegraph /usr/local/bin/delegraph
COPY fixtures /opt/delegraph/fixtures
COPY queries /opt/delegraph/queries
VOLUME /data
ENTRYPOINT ["delegraph"]
