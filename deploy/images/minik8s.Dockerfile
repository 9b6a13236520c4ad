# The project on a Python base, installed from wheels built on the host: nothing here
# downloads (containers cannot reach the package registries). Built by deploy/images/build.sh
# with the context it prepares (wheels/deps, wheels/minik8s, compose/).
#   BASE_IMAGE=minik8s/base:latest     a debootstrap'd Debian with python3-venv (default)
#   BASE_IMAGE=minik8s/node-os:latest  the same plus docker.io, iptables, iproute2 (the node)
#   BASE_IMAGE=python:3.11-slim        where a registry is reachable
ARG BASE_IMAGE=minik8s/base:latest
FROM ${BASE_IMAGE}

# MALLOC_ARENA_MAX: two glibc malloc arenas, as `minik8s up` starts its components (see
# minik8s/cli/launcher/processes.py): each thread's own arena keeps what it freed.
ENV PATH=/opt/minik8s/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=2

# Dependencies first: this layer changes only with pyproject.toml.
COPY wheels/deps /tmp/wheels/deps
RUN python3 -m venv /opt/minik8s \
 && /opt/minik8s/bin/pip install -q --no-index --no-cache-dir --disable-pip-version-check \
      --find-links /tmp/wheels/deps /tmp/wheels/deps/*.whl \
 && rm -rf /tmp/wheels

COPY wheels/minik8s /tmp/wheels/minik8s
RUN /opt/minik8s/bin/pip install -q --no-index --no-deps --no-cache-dir \
      --disable-pip-version-check /tmp/wheels/minik8s/*.whl \
 && rm -rf /tmp/wheels

COPY compose /usr/local/lib/minik8s/compose
# Marks the image as ours (IMAGE: its name): build.sh removes the untagged ones a rebuild leaves.
ARG IMAGE=minik8s/minik8s
LABEL io.minik8s.image=${IMAGE}
CMD ["python3"]
