# dutybot in a container: the duty inbox as tasks the team claims and resolves.
#
#   docker build -t dutybot .
#   docker run -d --name dutybot --restart on-failure \
#     --env-file /etc/dutybot/secrets.env \
#     -v /etc/dutybot/config.toml:/etc/dutybot/config.toml:ro \
#     -v dutybot-data:/var/lib/dutybot \
#     -p 3000:3000 dutybot
#
# In config.toml: database.url = "sqlite:////var/lib/dutybot/dutybot.db" (or PostgreSQL), and
# for HTTP mode slack.host = "0.0.0.0" so Slack's requests reach the bot, plus
# -e DUTYBOT_HEALTH_URL=http://127.0.0.1:3000/healthz (slack.port) for the health check.
# Secrets only in the environment (the env file), never in the image or the config.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DUTYBOT_HEALTH_URL=http://127.0.0.1:3001/healthz

# A user of its own: the bot never runs as root.
RUN groupadd --system dutybot \
 && useradd --system --gid dutybot --home-dir /var/lib/dutybot --no-create-home \
      --shell /usr/sbin/nologin dutybot \
 && mkdir -p /var/lib/dutybot /etc/dutybot \
 && chown dutybot:dutybot /var/lib/dutybot

WORKDIR /opt/dutybot
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
RUN pip install . && rm -rf build
COPY config.example.toml /etc/dutybot/config.example.toml

# The SQLite database (and a folder mailbox, if one is used) live here.
VOLUME ["/var/lib/dutybot"]
WORKDIR /var/lib/dutybot
USER dutybot
EXPOSE 3000

# /healthz answers 503 when the database can't be reached. In Socket Mode (the default) the
# status server serves it ([status] host:port, 127.0.0.1:3001 unless changed): the default
# DUTYBOT_HEALTH_URL. HTTP mode serves it on slack.port instead and runs no status server:
# set DUTYBOT_HEALTH_URL=http://127.0.0.1:3000/healthz (or your slack.port).
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['DUTYBOT_HEALTH_URL'], timeout=8)"]

CMD ["dutybot", "run", "--config", "/etc/dutybot/config.toml"]
