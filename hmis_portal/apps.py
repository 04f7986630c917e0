import gc

from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The composition root (SPEC §5): settings, URLs, the Celery app, the
    schedule, the API's router and `load_policy`, which loads a policy pack
    into every app's rows. It may name every app; no app names it. Installed
    last, so that its command finds every app ready."""

    name = "hmis_portal"
    label = "portal"
    verbose_name = "HMIS Portal"

    def ready(self):
        # The production guardrails of `check --deploy`.
        from hmis_portal import checks  # noqa: F401

        # Every app is ready: what start-up made (modules, classes, the
        # registries) lives as long as the process. Later collections leave
        # it out (a forked worker also keeps sharing its pages), and a
        # command that manage.py started without the collector gets it back.
        gc.freeze()
        gc.enable()
