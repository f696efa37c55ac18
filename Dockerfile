# One slim image for every Koppel process: the poller, each consumer, the ops CLI and the
# sandbox simulators differ only in their command (see docker-compose.yml).
#
# Two stages: the first builds the virtual environment, the second copies only that
# environment, so no pip cache, build backend or source tree is left in the image. Every
# dependency ships a manylinux wheel (psycopg[binary], cryptography), so no compiler is
# needed in either stage.
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
RUN python -m venv /opt/koppel
# The dependencies in their own layer, from the image's lock (bin/lock writes it): each at
# the version the suite ran with, every file checked against its sha256. A change to the
# source alone reuses this layer instead of downloading and installing them again.
COPY requirements/runtime.txt /tmp/runtime.txt
RUN /opt/koppel/bin/pip install --require-hashes --no-deps --requirement /tmp/runtime.txt
COPY pyproject.toml README.md ./
# Keep in step with [tool.setuptools.packages.find] in pyproject.toml (tests/test_compose.py
# checks it).
COPY config ./config
COPY contracts ./contracts
COPY clients ./clients
COPY translation ./translation
COPY store ./store
COPY producers ./producers
COPY consumers ./consumers
COPY ops ./ops
COPY sandbox ./sandbox
COPY bench ./bench
# Only Koppel itself here: its dependencies are installed above.
RUN /opt/koppel/bin/pip install --no-deps . \
    && /opt/koppel/bin/pip uninstall --yes pip

FROM python:3.11-slim

ENV PATH=/opt/koppel/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin koppel
COPY --from=build /opt/koppel /opt/koppel

# Not root: the processes need only the network and /tmp (Dramatiq's metrics files).
USER 10001:10001
WORKDIR /tmp
# Prometheus metrics of `koppel poll` and `koppel work` (KOPPEL_METRICS_PORT).
EXPOSE 9191
ENTRYPOINT ["koppel"]
CMD ["--help"]
