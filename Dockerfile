# hermes agent container image.
#
# The hermes binary is built outside Docker (static, CGO_ENABLED=0) and copied
# in; nothing is compiled here. Build with `make image`, which builds the
# binary into build/hermes, makes the base image and runs (from a staged
# context holding only this file, the binary and docker/)
#
#   DOCKER_BUILDKIT=0 docker build --build-arg BASE_IMAGE=hermes-test-base:bookworm \
#       --build-arg HERMES_GIT_SHA=$(git rev-parse --verify -q HEAD) -t hermes:dev .
#
# BASE_IMAGE is any Debian-like image with useradd (the tests use a local
# debootstrap image, see script/base-image.sh); the default is the published
# Debian image. The classic builder runs every instruction as a step of its
# own, so related instructions are kept together. docker-compose.yml runs the
# result (hermes:dev) as it is.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

# HERMES_GIT_SHA: the commit the image is built from, baked into
# /opt/hermes/.hermes_build_sha (one line) only when given.
ARG HERMES_GIT_SHA=

# The runtime user (CONTRACT §2): uid/gid 10000, home = HERMES_HOME. The data
# volume is owned by it; /opt/hermes and /etc/hermes stay root-owned and
# read-only to it.
RUN set -eu; \
    if getent passwd hermes >/dev/null || getent passwd 10000 >/dev/null \
       || getent group hermes >/dev/null || getent group 10000 >/dev/null; then \
        echo "base image already has a hermes user/group or uses uid/gid 10000" >&2; exit 1; \
    fi; \
    groupadd --gid 10000 hermes; \
    useradd --uid 10000 --gid 10000 --home-dir /opt/data --no-create-home \
        --no-log-init --shell /bin/sh --comment hermes hermes; \
    install -d -o 0 -g 0 -m 0755 /opt/hermes /opt/hermes/bin \
        /etc/hermes /etc/hermes/init.d /etc/hermes/services.d; \
    install -d -o 10000 -g 10000 -m 0755 /opt/data; \
    if [ -n "${HERMES_GIT_SHA}" ]; then \
        case "${HERMES_GIT_SHA}" in \
            *[!0-9a-f]*) echo "HERMES_GIT_SHA must be a lower-case hex commit id, got '${HERMES_GIT_SHA}'" >&2; exit 1 ;; \
        esac; \
        printf '%s\n' "${HERMES_GIT_SHA}" > /opt/hermes/.hermes_build_sha; \
        chmod 0644 /opt/hermes/.hermes_build_sha; \
    fi

# The binary keeps the mode it has in the build context (0755 as go build
# and script/image.sh leave it); a chmod here would copy it into a new layer.
COPY --chown=0:0 build/hermes /opt/hermes/bin/hermes

# The first-boot seeds (SOUL.md, config.yaml, env.example), written by the
# very binary of this image so that they never drift from its built-in
# defaults. The first boot of a volume copies them into HERMES_HOME; a
# derived image replaces them (COPY my-SOUL.md /opt/hermes/share/SOUL.md).
# HERMES_DOCKER_EXEC_AS_ROOT: root writes them, no drop to the hermes user.
RUN HERMES_DOCKER_EXEC_AS_ROOT=1 /opt/hermes/bin/hermes seeds --dir /opt/hermes/share >/dev/null \
    && chmod 0755 /opt/hermes/share && chmod 0644 /opt/hermes/share/*

# HERMES_*_HOST: bind on all interfaces in a container (the host default is
# 127.0.0.1); the defaults come from here, never from container detection.
ENV PATH=/opt/hermes/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HERMES_HOME=/opt/data \
    HERMES_DASHBOARD_HOST=0.0.0.0 \
    HERMES_GATEWAY_HOST=0.0.0.0

VOLUME /opt/data
WORKDIR /opt/data

# The dashboard (HERMES_DASHBOARD_PORT, started only with HERMES_DASHBOARD=1)
# and the default profile's gateway (gateway.port in /opt/data/config.yaml).
EXPOSE 9119 8642

LABEL org.opencontainers.image.title="hermes" \
      org.opencontainers.image.description="hermes agent container: init, supervisor, gateway and dashboard in one binary" \
      org.opencontainers.image.source="https://github.com/hermes-agent/hermes" \
      org.opencontainers.image.revision="${HERMES_GIT_SHA}"

# hermes doctor --quiet: silent when healthy, the failing checks otherwise
# (supervisor, wanted-up services, the main command's gateway answering
# /health, services running as root not failed, volume, credentials, ports,
# disk), each naming what failed in docker inspect's health log.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["/opt/hermes/bin/hermes", "doctor", "--quiet"]

ENTRYPOINT ["/opt/hermes/bin/hermes", "init", "--"]
CMD ["gateway", "run"]
