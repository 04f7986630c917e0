"""The benchmarks' scratch databases, copied from a migrated one when
BENCHMARK_MIGRATED_DATABASE names it.

A benchmark migrates a new scratch database before it fills it: at the sizes
it measures, that is nothing beside the runs; at the small sizes the tests run
it at, it is most of the time. The tests name their own migrated template
(tests/database.py), and the scratch database is a copy of it (`CREATE
DATABASE … TEMPLATE`): the same tables, the same rows the migrations load.
Unset (`make bench`), every benchmark migrates its own, as before.
"""

import os
import time

VARIABLE = "BENCHMARK_MIGRATED_DATABASE"


def copy_migrated(name: str) -> bool:
    """Create the database `name` as a copy of the migrated one, on the server
    of DATABASE_URL; False (and nothing done) when none is named."""
    template = os.environ.get(VARIABLE)
    if not template:
        return False
    import environ
    import psycopg2

    config = environ.Env.db_url_config(os.environ["DATABASE_URL"])
    admin = psycopg2.connect(dbname="postgres", user=config["USER"], password=config["PASSWORD"] or None,
                             host=config["HOST"] or None, port=config["PORT"] or None)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
            # PostgreSQL copies a database nobody else is connected to: a test
            # process cloning the same template at its start holds it a moment.
            deadline = time.monotonic() + 60
            while True:
                try:
                    cursor.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
                    return True
                except psycopg2.errors.ObjectInUse:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
    finally:
        admin.close()
