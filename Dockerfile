# Multi-stage build: compile in the Rust image, run from a slim Debian with only CA roots.
# TLS is rustls and SQLite is bundled, so the runtime image needs no OpenSSL or libsqlite.
FROM rust:1-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits reuse the cached dependency layer.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo "fn main() {}" > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src ./src
COPY tools ./tools
COPY prompts ./prompts
COPY dashboard ./dashboard
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin webhook \
    && mkdir -p /data && chown webhook /data
COPY --from=build /src/target/release/webhook-mcp /usr/local/bin/webhook-mcp
USER webhook
ENV WEBHOOK_MCP_LISTEN=0.0.0.0:8086 \
    WEBHOOK_MCP_DATABASE=/data/webhook-mcp.db \
    WEBHOOK_MCP_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8086
# The address of WEBHOOK_MCP_LISTEN, which may be set at run time: its port on 127.0.0.1 when it
# listens on every interface (`0.0.0.0:9000`, `[::]:9000`), else the address it names
# (`10.0.0.5:8086`, where 127.0.0.1 would find nothing).
HEALTHCHECK --interval=30s --timeout=3s CMD H="${WEBHOOK_MCP_LISTEN%:*}"; \
    case "$H" in 0.0.0.0|"[::]"|"$WEBHOOK_MCP_LISTEN"|"") H=127.0.0.1;; esac; \
    curl -fsS "http://$H:${WEBHOOK_MCP_LISTEN##*:}/health" || exit 1
ENTRYPOINT ["webhook-mcp"]
CMD ["serve"]
