# tests/deploy/test_systemd.py: systemd 252 as PID 1 in a container, odibi-stream installed the
# way users install it (scripts/install-systemd.sh) with the quickstart as its project. No
# procps: the unit must verify, reload and stop without /bin/kill.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends systemd systemd-sysv dbus \
 && rm -rf /var/lib/apt/lists/* \
 && ! test -e /bin/kill && ! test -e /usr/bin/kill \
 && systemctl mask systemd-udevd.service systemd-udev-trigger.service getty.target \
      console-getty.service systemd-logind.service systemd-firstboot.service \
      systemd-networkd-wait-online.service
WORKDIR /src
COPY pyproject.toml README.md ./
COPY odibi_stream ./odibi_stream
COPY scripts/install-systemd.sh ./scripts/install-systemd.sh
COPY deploy/systemd ./deploy/systemd
COPY examples/quickstart ./examples/quickstart
RUN --mount=type=cache,target=/root/.cache/pip,sharing=locked \
    bash scripts/install-systemd.sh --project examples/quickstart \
 && printf 'ODIBI_API_TOKEN=systemd-test-token\n' > /etc/odibi-stream/env
STOPSIGNAL SIGRTMIN+3
CMD ["/sbin/init"]
