# The layer every faas-trio image starts from: Python, the faas_trio package, an unprivileged
# user owning the working directory (local state, FAAS_HOME), servers on every interface.
# deploy/build-images.sh builds it first, from the repository root:
#   docker build -f components/base.Dockerfile -t faas-trio-base .
FROM python:3.11-slim

# No CurveZMQ keys are baked in: each container gets its role's secret key and the public
# keys as secrets, in FAAS_CURVE_SECRET and FAAS_CURVE_PUBLIC (the Kumori manifests do that)
# or as files in the folder FAAS_CURVE_KEYS names; without them a component will not start.

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FAAS_HOST=0.0.0.0
WORKDIR /app
COPY pyproject.toml README.md ./
COPY faas_trio ./faas_trio
RUN pip install . && rm -rf build faas_trio.egg-info \
    && useradd --system --uid 10001 --create-home faas && chown faas /app
USER faas
