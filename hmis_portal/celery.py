import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hmis_portal.settings")

app = Celery("hmis_portal")
# Every CELERY_* setting in settings.py configures the app; the broker and
# eager mode follow REDIS_URL there.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
