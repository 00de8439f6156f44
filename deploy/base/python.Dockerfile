# Stand-in for the official python:3.11-slim where no registry is reachable (built by
# scripts/deploy/base-images.sh on a debootstrapped Debian): Debian's Python 3.11 with a venv at
# /opt/python first on PATH, so `python`/`pip` behave as in the official image.
ARG DEBIAN_IMAGE=local/debian:bookworm
FROM ${DEBIAN_IMAGE}
# Extra CA certificates of the build machine (e.g. a TLS-intercepting egress proxy); may be empty.
COPY ca/ /usr/local/share/ca-certificates/
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      python3 python3-venv ca-certificates \
 && update-ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
 && python3 -m venv /opt/python
ENV PATH=/opt/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1
CMD ["python3"]
