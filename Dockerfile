# Quiz Reports: one image for the web app, the Huey consumers and the schema upgrade
# (docker-compose.yml names the command of each; README.md, "Production").
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    QUIZ_REPORTS_ENV=production \
    INSTANCE_PATH=/var/lib/quiz-reports

WORKDIR /app

# The lock alone first, so a change to the code reuses this layer. Every file is checked
# against its hash, and only wheels are taken: nothing is built from source in the image.
COPY requirements.lock ./
RUN pip install --require-hashes --only-binary=:all: -r requirements.lock

# The code stays root's, read-only to the product; only the instance folder is writable.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/quiz-reports \
        --create-home --shell /usr/sbin/nologin quiz-reports
COPY wsgi.py tasks.py gunicorn.conf.py ./
COPY webapp ./webapp
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static

USER quiz-reports
# gunicorn.conf.py binds $PORT, 8000 unless set.
EXPOSE 8000
CMD ["gunicorn", "wsgi:app"]
