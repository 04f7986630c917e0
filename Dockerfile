# One image for the web tier, the Celery worker, Celery beat and the one-shot
# migrate step (docker-compose.yml). .dockerignore keeps .env and secrets out.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml ./
RUN pip install --no-cache-dir .
COPY . .
# The portal's sources compiled once here: with PYTHONDONTWRITEBYTECODE no
# process writes them, and every command, worker and server would compile
# them again at its start (about a fifth of the CPU time of a login report
# import's start-up).
RUN python -m compileall -q /app
# collectstatic needs settings that import; these values are for this build step only.
RUN SECRET_KEY=build-only ALLOWED_HOSTS=build DEBUG=false python manage.py collectstatic --noinput
RUN useradd --create-home portal && mkdir -p /app/var/private && chown -R portal /app/var
USER portal
# gunicorn binds 0.0.0.0:$PORT and starts $WEB_CONCURRENCY workers; the probe asks the same port.
ENV PORT=8000 WEB_CONCURRENCY=3
EXPOSE 8000
# The web probe (/healthz: database and broker); compose gives worker and beat their own.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["python", "-m", "hmis_portal.probe", "web"]
CMD ["gunicorn", "hmis_portal.wsgi:application", "--access-logfile", "-"]
