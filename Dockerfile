# pexd as a container image: one self-contained executable (scripts/build.ts) on a small glibc base.
#   docker build -t pexd .            (or: podman build -t pexd .)
#   docker run -d -p 8081:8081 -v pexd-data:/var/lib/pexd pexd
# Configuration is environment variables only (README.md, docs/configuration.md); see docs/shipping.md.
# test/image.test.ts reads this file: it checks the rules below and applies the final stage to a
# Debian bookworm root under systemd-nspawn.

# ---- build: compile the executable with the Bun version package.json pins ("bun": "1.4.5").
FROM docker.io/oven/bun:1.4.5-debian AS build
# The Bun images do not promise CA certificates; the final stage copies this bundle.
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first (a layer reused until package.json or bun.lock change); dev tools are not needed.
COPY package.json bun.lock bunfig.toml tsconfig.json ./
RUN bun install --frozen-lockfile --production
# Then only what the executable is built from: the program, its migrations and the build script.
COPY db ./db
COPY src ./src
COPY scripts/build.ts ./scripts/build.ts
RUN bun run scripts/build.ts --outfile /out/pexd

# ---- run: debian:bookworm-slim rather than distroless/cc-debian12. The executable needs only glibc,
# which both have; distroless would save about 50 MB next to a 112 MiB executable, but bookworm-slim
# has a shell and useradd (a named user created here, `docker exec … sh` when debugging), and it is
# the same Debian release as the root test/image.test.ts runs this stage in, so what the test runs
# is what ships. No package is installed here: no apt lists, no package manager state to patch.
FROM docker.io/library/debian:bookworm-slim
# Where the source is published: `--build-arg PEXD_SOURCE=https://…` (the repository names no URL yet).
ARG PEXD_SOURCE=https://github.com/pexd/pexd
LABEL org.opencontainers.image.title="pexd" \
      org.opencontainers.image.description="Durable Fibonacci counter, widgets API, Ethereum gateway and block relay in one executable" \
      org.opencontainers.image.source="${PEXD_SOURCE}" \
      org.opencontainers.image.licenses="MIT"
# A fixed uid/gid (not 1000, which hosts hand to people) so volume ownership is predictable.
# (--no-log-init: no sparse lastlog entry for a large uid.)
RUN groupadd --gid 10001 pexd \
 && useradd --uid 10001 --gid pexd --no-log-init --no-create-home --home-dir /var/lib/pexd --shell /usr/sbin/nologin pexd \
 && mkdir -p /var/lib/pexd \
 && chown pexd:pexd /var/lib/pexd \
 && chmod 0750 /var/lib/pexd
# CA certificates for HTTPS/WSS upstreams (Infura): Bun verifies against the system bundle
# (SSL_CERT_FILE below). The executable is root's: the service cannot rewrite it.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/pexd /usr/local/bin/pexd
ENV PEXD_HOST=0.0.0.0 \
    PEXD_PORT=8081 \
    PEXD_DATA_DIR=/var/lib/pexd \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
WORKDIR /var/lib/pexd
VOLUME ["/var/lib/pexd"]
USER 10001:10001
EXPOSE 8081
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/local/bin/pexd", "health"]
ENTRYPOINT ["/usr/local/bin/pexd"]
