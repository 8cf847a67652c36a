# syntax=docker/dockerfile:1
# The openlit-operator image: one static (musl) binary on distroless/static, run as 65532:65532,
# no shell, no package manager, nothing written outside the /tmp volume the manifests mount, so
# it runs with a read-only root filesystem.
#   docker build -t ghcr.io/openlit/openlit-operator:0.1.0 .
# ci/check-dockerfile.sh runs the build stage's cargo command on a machine without Docker and
# checks the result the same way.

ARG RUST_IMAGE=rust:1.95.0-alpine
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${RUST_IMAGE} AS build
# On Alpine the native target is x86_64/aarch64-unknown-linux-musl, which links statically.
# ring compiles a little C, which needs the musl headers.
# The musl headers follow the Alpine release of the pinned Rust image, so they are not pinned.
# hadolint ignore=DL3018
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p openlit-operator --bin openlit-operator \
    && install -D -m 0755 target/release/openlit-operator /out/openlit-operator

# An empty image: the binary starts there only if it needs no loader, no libc and no shell.
FROM scratch AS smoke
COPY --from=build /out/openlit-operator /openlit-operator
USER 65532:65532
RUN ["/openlit-operator", "--version"]

FROM ${RUNTIME_IMAGE}
COPY --from=smoke /openlit-operator /usr/local/bin/openlit-operator
USER 65532:65532
EXPOSE 9443 8081 8080
ENTRYPOINT ["/usr/local/bin/openlit-operator"]
CMD ["run"]
LABEL org.opencontainers.image.title="openlit-operator" \
      org.opencontainers.image.description="Zero-code OpenTelemetry instrumentation for Python AI applications on Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0"
