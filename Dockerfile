# aws-monitor: a slim image that runs the bot as a non-root user.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY services ./services
RUN pip install ".[postgres]" && rm -rf /src

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin aws-monitor
USER aws-monitor
WORKDIR /home/aws-monitor

# The config file is mounted here; secrets come only from the environment.
ENV AWS_MONITOR_CONFIG=/etc/aws-monitor/aws-monitor.yaml \
    AWS_MONITOR_DATABASE_URL=sqlite:////home/aws-monitor/aws-monitor.db \
    LOG_LEVEL=INFO

EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=3).status != 200)"]

ENTRYPOINT ["aws-monitor"]
CMD ["serve", "--host", "0.0.0.0", "--port", "3000"]
