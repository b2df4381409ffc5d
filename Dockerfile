# syntax=docker/dockerfile:1
# The cyberapp-tenants image: one static-ish binary on distroless, running as uid/gid 65532.
#   docker build -t cyberapp-tenants .
#   export GRPC_AUTH_TOKEN="$(openssl rand -hex 32)"   # gRPC callers send `authorization: Bearer <it>`
#   docker run --rm -p 8080:8080 -p 50051:50051 -v cyberapp-tenants-data:/data \
#     -e ACGW_ENDPOINT_IDS=cti.a.p.acgw.endpoint.v1.0~vendor.app.endpoint.v1.0 -e GRPC_AUTH_TOKEN \
#     cyberapp-tenants
# `serve` refuses to start without both: ACGW_ENDPOINT_IDS is your CyberApp's callback endpoint id (the Vendor
# Portal shows it; replace the example), and GRPC_AUTH_TOKEN is required because the image sets
# GRPC_ADDR=0.0.0.0:50051 (the binary's loopback default would leave the published gRPC port unreachable).
# CI does not build it (no Docker engine there); the Helm chart in helm/cyberapp-tenants runs it.

# --- build -------------------------------------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS builder
WORKDIR /build
# Only what the binary is built from (tests, benches, fuzz, docs and the chart stay out).
# protoc comes from the protoc-bin-vendored build-dependency and SQLite is compiled in (libsqlite3-sys
# "bundled"), so the slim image's C toolchain is all that is needed.
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto ./proto
COPY src ./src
# The cache mounts keep the crate registry and the target directory between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target \
    cargo build --release --locked --bin cyberapp-tenants \
    && install -D -m 0755 target/release/cyberapp-tenants /out/cyberapp-tenants \
    && mkdir -p /out/data

# --- run ---------------------------------------------------------------------------------------------------
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="cyberapp-tenants" \
      org.opencontainers.image.description="Acronis CyberApp callback handler and tenant service" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/cyberapp-tenants /usr/local/bin/cyberapp-tenants
# The working directory holds the default SQLite file (sqlite://cyberapp-tenants.db) and DATA_DIR ("."), so
# a volume mounted at /data keeps them; owned by the runtime user so a fresh named volume is writable.
COPY --from=builder --chown=65532:65532 /out/data /data
WORKDIR /data
USER 65532:65532
# 8080: public HTTP gateway (POST /callback, /healthz, /readyz, /metrics); 50051: internal gRPC TenantService.
# A container's loopback is unreachable from outside it, so the TenantService listens on every interface
# here; a non-loopback GRPC_ADDR needs GRPC_AUTH_TOKEN (or GRPC_ALLOW_UNAUTHENTICATED=true behind a mesh).
ENV GRPC_ADDR=0.0.0.0:50051
EXPOSE 8080 50051
ENTRYPOINT ["/usr/local/bin/cyberapp-tenants"]
CMD ["serve"]
