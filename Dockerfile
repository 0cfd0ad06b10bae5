# secretgate built from this repository, with git, for running audits in CI:
#
#   docker build -t secretgate .
#   docker run --rm -v "$PWD:/repo" secretgate audit /repo --format sarif > secretgate.sarif
#
# The build stage compiles the locked dependencies; the final image holds the binary and git
# only (git: `secretgate` reads repositories itself, but CI steps around it use git).
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin secretgate

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/secretgate /usr/local/bin/secretgate
# A mounted repository belongs to another user than the container's: let git read it.
RUN git config --system --add safe.directory '*'
WORKDIR /repo
ENTRYPOINT ["secretgate"]
CMD ["audit", "/repo"]
