# The custstats image: one image for every role (projector, api, publish, status, ...).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what the package build needs; tests, docs and benchmarks stay out (.dockerignore).
COPY pyproject.toml README.md ./
COPY custstats ./custstats
COPY events ./events
COPY projector ./projector
COPY api ./api
RUN pip install . \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin custstats

USER custstats
EXPOSE 8000

# Both roles are the same CLI; docker-compose.yml picks the subcommand.
CMD ["custstats", "api", "--host", "0.0.0.0", "--port", "8000"]
