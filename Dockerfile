# One slim image for every Koppel process: the poller, each consumer, the ops CLI and the
# sandbox simulators differ only in their command.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY config ./config
COPY contracts ./contracts
COPY clients ./clients
COPY store ./store
COPY producers ./producers
COPY consumers ./consumers
COPY ops ./ops
COPY sandbox ./sandbox
COPY bench ./bench
RUN pip install . && useradd --system --uid 10001 --no-create-home koppel

USER koppel
ENTRYPOINT ["koppel"]
CMD ["--help"]
