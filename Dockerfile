# One image for the web tier, the Celery worker and Celery beat (docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml ./
RUN pip install --no-cache-dir .
COPY . .
# collectstatic needs settings that import; these values are for this build step only.
RUN SECRET_KEY=build-only ALLOWED_HOSTS=build DEBUG=false python manage.py collectstatic --noinput
RUN useradd --create-home portal && mkdir -p /app/var/private && chown -R portal /app/var
USER portal
EXPOSE 8000
CMD ["gunicorn", "hmis_portal.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
