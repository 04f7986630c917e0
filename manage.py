#!/usr/bin/env python
import gc
import os
import sys


def main():
    # Start-up makes some 185,000 objects that live as long as the process;
    # collecting garbage while they are made finds next to nothing and costs
    # a fifth of the start. The collector is back once the portal is set up
    # (hmis_portal.apps.PortalConfig.ready).
    gc.disable()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hmis_portal.settings")
    # manage.py is the developer's command line: with neither a SECRET_KEY nor
    # DEBUG in the environment it runs as local development. Servers start
    # through gunicorn (wsgi.py) and celery, which keep the strict rule that
    # production must set SECRET_KEY and ALLOWED_HOSTS; so does any command
    # run with DEBUG=false.
    if "SECRET_KEY" not in os.environ:
        os.environ.setdefault("DEBUG", "true")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
