"""The test database, migrated once and copied for each test process.

Replaying every migration takes longer than most test files, and with several
test processes (pytest-xdist) each would replay them again. Instead the first
process to need it migrates a template under a lock, keyed by a hash of the
migration files (and the project modules they import): on PostgreSQL a database
`test_<name>_tpl_<hash>` that each process clones with `CREATE DATABASE ...
TEMPLATE`, on SQLite a file in var/test-databases/ that each process copies into
its in-memory database. A new or edited migration changes the hash, so the
template is built afresh; `pytest --create-db` rebuilds it regardless.

The template is also the snapshot `restore_policy_rows()` puts back after a
transactional test's flush: the rows the data migrations load (CoC policy,
staff groups and their permissions, content types), with their ids.
"""

import ast
import contextlib
import fcntl
import hashlib
import importlib.util
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

import django
from django.apps import apps
from django.conf import settings
from django.db import connections

ALIAS = "default"
SNAPSHOT = "test_template"  # the PostgreSQL schema that keeps the migrated rows
TEMPLATE_DIR = Path(settings.BASE_DIR) / "var" / "test-databases"


def migration_files() -> list[Path]:
    """Every migration module of every installed app, in a stable order."""
    from django.db.migrations.loader import MigrationLoader

    files = []
    for config in apps.get_app_configs():
        module, _ = MigrationLoader.migrations_module(config.label)
        try:
            spec = importlib.util.find_spec(module) if module else None
        except ImportError:
            spec = None
        for location in (spec.submodule_search_locations or []) if spec else []:
            files += sorted(Path(location).glob("*.py"))
    return files


def _project_modules_imported_by(path: Path) -> set[Path]:
    """The project's own modules a migration imports (data migrations call
    loaders and copy validators): a change there changes what it builds."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            try:
                spec = importlib.util.find_spec(name)
            except (ImportError, ValueError):
                continue
            origin = Path(spec.origin) if spec and spec.origin and spec.has_location else None
            if origin and origin.is_relative_to(settings.BASE_DIR) and "site-packages" not in origin.parts:
                found.add(origin)
    return found


POST_MIGRATE_SOURCES = {Path(settings.BASE_DIR) / "hmis_portal" / "schedule.py"}


def migrations_key() -> str:
    """A short hash of what a migrated database is built from."""
    migrations = migration_files()
    imported = set().union(*(_project_modules_imported_by(path) for path in migrations)) - set(migrations)
    # What `migrate` runs beside the migrations: the beat schedule it writes
    # after migrating (post_migrate) comes from the jobs declared here.
    imported |= POST_MIGRATE_SOURCES
    digest = hashlib.sha256(f"django {django.get_version()}\n".encode())
    for path in [*migrations, *sorted(imported)]:
        digest.update(str(path.relative_to(path.parents[1])).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


@contextlib.contextmanager
def _lock(name: str):
    """One process at a time builds (or clones) the template."""
    with open(Path(tempfile.gettempdir()) / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _use(connection, name: str) -> None:
    connection.close()
    settings.DATABASES[connection.alias]["NAME"] = connection.settings_dict["NAME"] = name


def set_up(*, verbosity: int = 0, rebuild: bool = False) -> str:
    """Point the default connection at a fresh copy of the migrated template;
    returns the database name to give back to `tear_down`."""
    connection = connections[ALIAS]
    old_name = connection.settings_dict["NAME"]
    if connection.vendor == "postgresql":
        _set_up_postgresql(connection, migrations_key(), verbosity, rebuild)
    elif connection.vendor == "sqlite":
        _set_up_sqlite(connection, migrations_key(), verbosity, rebuild)
    else:  # pragma: no cover - the portal runs on these two
        connection.creation.create_test_db(verbosity=verbosity, autoclobber=True, serialize=False)
    return old_name


def tear_down(old_name: str, *, verbosity: int = 0, keepdb: bool = False) -> None:
    connections[ALIAS].creation.destroy_test_db(old_name, verbosity, keepdb)


# PostgreSQL ------------------------------------------------------------------


def _template_name(connection, key: str) -> str:
    test_name = connection.creation._get_test_db_name()
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and test_name.endswith(f"_{worker}"):
        test_name = test_name[: -len(worker) - 1]
    return f"{test_name}_tpl_{key}"


def _set_up_postgresql(connection, key: str, verbosity: int, rebuild: bool) -> None:
    creation = connection.creation
    quote = connection.ops.quote_name
    worker_name = creation._get_test_db_name()
    template = _template_name(connection, key)
    with _lock(template):
        with creation._nodb_cursor() as cursor:
            if rebuild:
                cursor.execute(f"DROP DATABASE IF EXISTS {quote(template)} WITH (FORCE)")
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [template])
            built = cursor.fetchone() is not None
        if not built:
            _build_postgresql_template(connection, template, verbosity)
        with creation._nodb_cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {quote(worker_name)} WITH (FORCE)")
            cursor.execute(f"CREATE DATABASE {quote(worker_name)} TEMPLATE {quote(template)}")
    _use(connection, worker_name)
    # The test database's name is now its NAME: pinned as its TEST name too (as pytest-xdist's
    # processes have it), so that `_template_name`, asked again later (`clone_template`), does
    # not read `test_` + the test database's name in a run of one process.
    connection.settings_dict["TEST"]["NAME"] = worker_name


def _build_postgresql_template(connection, template: str, verbosity: int) -> None:
    """Migrate under a temporary name and rename when done, so that an
    interrupted build never leaves a template that looks complete."""
    quote = connection.ops.quote_name
    building = f"{template}_new"
    test_settings = connection.settings_dict["TEST"]
    saved_name, saved_test_name = connection.settings_dict["NAME"], test_settings.get("NAME")
    test_settings["NAME"] = building
    try:
        connection.creation.create_test_db(verbosity=verbosity, autoclobber=True, serialize=False)
        _snapshot_postgresql(connection)
    finally:
        _use(connection, saved_name)
        test_settings["NAME"] = saved_test_name
    prefix = template.rsplit("_tpl_", 1)[0] + "_tpl_"
    with connection.creation._nodb_cursor() as cursor:
        cursor.execute(f"ALTER DATABASE {quote(building)} RENAME TO {quote(template)}")
        # Templates of older migrations are of no more use.
        cursor.execute("SELECT datname FROM pg_database WHERE starts_with(datname, %s) AND datname <> %s",
                       [prefix, template])
        for (stale,) in cursor.fetchall():
            with contextlib.suppress(Exception):
                cursor.execute(f"DROP DATABASE {quote(stale)}")


def _snapshot_postgresql(connection) -> None:
    """Copy the tables the migrations filled into a schema of their own, which
    a flush (of the tables on the search path) leaves alone."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {SNAPSHOT}")
        for table in _tables_with_rows(connection, cursor):
            cursor.execute(f"CREATE TABLE {SNAPSHOT}.{quote(table)} AS TABLE public.{quote(table)}")


def _tables_with_rows(connection, cursor) -> list[str]:
    quote = connection.ops.quote_name
    tables = sorted(connection.introspection.django_table_names(only_existing=True, include_views=False))
    with_rows = []
    for table in tables:
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {quote(table)})")
        if cursor.fetchone()[0]:
            with_rows.append(table)
    return with_rows


# SQLite ----------------------------------------------------------------------


def _set_up_sqlite(connection, key: str, verbosity: int, rebuild: bool) -> None:
    creation = connection.creation
    test_name = creation._get_test_db_name()
    template = _sqlite_templates[connection.alias] = TEMPLATE_DIR / f"{connection.alias}-{key}.sqlite3"
    TEMPLATE_DIR.mkdir(parents=True, exist_ok=True)
    with _lock(f"hmis-test-{template.stem}-{hashlib.sha256(str(TEMPLATE_DIR).encode()).hexdigest()[:8]}"):
        if rebuild:
            template.unlink(missing_ok=True)
        if not template.exists():
            _build_sqlite_template(connection, template, verbosity)
            return  # this process's database is the one just migrated
    if creation.is_in_memory_db(test_name):
        _use(connection, test_name)
        connection.ensure_connection()
        with contextlib.closing(sqlite3.connect(template)) as source:
            source.backup(connection.connection)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(test_name)
        shutil.copyfile(template, test_name)
        _use(connection, test_name)


_sqlite_templates: dict[str, Path] = {}


def _sqlite_template_path(connection) -> Path:
    return _sqlite_templates[connection.alias]


def _build_sqlite_template(connection, template: Path, verbosity: int) -> None:
    connection.creation.create_test_db(verbosity=verbosity, autoclobber=True, serialize=False)
    connection.ensure_connection()
    partial = template.with_name(f"{template.name}.{os.getpid()}")
    with contextlib.closing(sqlite3.connect(partial)) as target:
        connection.connection.backup(target)
    os.replace(partial, template)
    for stale in template.parent.glob(f"{connection.alias}-*.sqlite3"):
        if stale != template:
            stale.unlink(missing_ok=True)




# After a transactional test ------------------------------------------------


_restore_sql: dict[str, list[str]] = {}


def _restore_statements(connection) -> list[str]:
    """DELETE and INSERT ... SELECT for each table the migrations filled,
    naming the columns (a test that migrates back and forth may leave them
    in another order)."""
    quote = connection.ops.quote_name
    if connection.vendor == "postgresql":
        source, target = SNAPSHOT, "public"
        with connection.cursor() as cursor:
            cursor.execute("SELECT table_name, array_agg(column_name::text ORDER BY ordinal_position) "
                           "FROM information_schema.columns WHERE table_schema = %s GROUP BY table_name", [SNAPSHOT])
            tables = sorted(cursor.fetchall())
        first = [f"TRUNCATE {', '.join(f'{target}.{quote(t)}' for t, _ in tables)} CASCADE"] if tables else []
    else:
        source, target = SNAPSHOT, "main"
        with contextlib.closing(sqlite3.connect(_sqlite_template_path(connection))) as template:
            names = [row[0] for row in template.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                "AND name <> 'django_migrations' ORDER BY name")]
            tables = [(t, [c[1] for c in template.execute(f"PRAGMA table_info({quote(t)})")]) for t in names
                      if template.execute(f"SELECT EXISTS (SELECT 1 FROM {quote(t)})").fetchone()[0]]
        first = [f"DELETE FROM {target}.{quote(t)}" for t, _ in tables]
    inserts = []
    for table, columns in tables:
        listed = ", ".join(quote(c) for c in columns)
        inserts.append(f"INSERT INTO {target}.{quote(table)} ({listed}) SELECT {listed} FROM {source}.{quote(table)}")
    return first + inserts


def restore(connection) -> None:
    """Put back the rows the migrations load, after a flush emptied every table."""
    from django.db import transaction

    if connection.vendor not in ("postgresql", "sqlite"):  # pragma: no cover
        from tests import migration_rows

        migration_rows.reload()
        return
    statements = _restore_sql.get(connection.alias)
    if statements is None:
        statements = _restore_sql[connection.alias] = _restore_statements(connection)
    if connection.vendor == "postgresql":
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            cursor.execute(";\n".join(statements))
        return
    connection.ensure_connection()
    raw = connection.connection
    raw.execute(f"ATTACH DATABASE ? AS {SNAPSHOT}", [f"file:{_sqlite_template_path(connection)}?mode=ro"])
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        raw.execute(f"DETACH DATABASE {SNAPSHOT}")


def flush_and_restore(test_case) -> None:
    """What a transactional test leaves behind: the database as migrated (the
    flush's own post_migrate step is skipped, the snapshot brings back the
    content types and permissions it would make, with their ids)."""
    from django.core.management import call_command

    for alias in test_case._databases_names(include_mirrors=False):
        connection = connections[alias]
        if connection.vendor == "postgresql":
            _empty_and_restore_postgresql(connection)
            continue
        call_command("flush", verbosity=0, interactive=False, database=alias, reset_sequences=False,
                     allow_cascade=test_case.available_apps is not None, inhibit_post_migrate=True)
        restore(connection)


def _empty_and_restore_postgresql(connection) -> None:
    """The flush and the restore in one transaction, with DELETEs instead of
    `flush`'s TRUNCATE: a TRUNCATE of every table makes each table and index
    a new file, which cost about a second per transactional test, while
    deleting the few rows a test made costs next to nothing. The foreign
    keys' checks are off for it (`session_replication_role`, as a restore
    from a dump does), so the order of the tables does not matter."""
    from django.db import transaction

    quote = connection.ops.quote_name
    tables = sorted(connection.introspection.django_table_names(only_existing=True, include_views=False))
    statements = _restore_sql.get(connection.alias)
    if statements is None:
        statements = _restore_sql[connection.alias] = _restore_statements(connection)
    inserts = [statement for statement in statements if statement.startswith("INSERT")]
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(";\n".join(["SET LOCAL session_replication_role = replica",
                                    *(f"DELETE FROM public.{quote(table)}" for table in tables), *inserts]))


# The demo, seeded once per process ---------------------------------------------


def clone_template(name: str) -> str:
    """A new PostgreSQL database `name`, a copy of the migrated template
    (under the template's lock, as each process's test database is made)."""
    connection = connections[ALIAS]
    quote = connection.ops.quote_name
    template = _template_name(connection, migrations_key())
    with _lock(template), connection.creation._nodb_cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {quote(name)} WITH (FORCE)")
        cursor.execute(f"CREATE DATABASE {quote(name)} TEMPLATE {quote(template)}")
    return name


def create_empty(name: str) -> str:
    """A new database with no table in it, to `use` and then `drop`: on
    PostgreSQL a database `name`, on SQLite a file of that name in a
    temporary folder. Returns its name for the connection."""
    connection = connections[ALIAS]
    if connection.vendor == "sqlite":
        path = Path(tempfile.gettempdir()) / f"{name}-{os.getpid()}.sqlite3"
        path.unlink(missing_ok=True)
        return str(path)
    quote = connection.ops.quote_name
    with connection.creation._nodb_cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {quote(name)} WITH (FORCE)")
        cursor.execute(f"CREATE DATABASE {quote(name)}")
    return name


def migrate_to(targets):
    """Migrate the default connection's database to `targets` (forward or
    back) and return the models of the state it reached: built on the
    executor's way there, where the loader's `project_state` would build every
    model of the project again from the migration files."""
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[ALIAS])
    executor.loader.build_graph()
    return executor.migrate(targets).apps


def drop(name: str) -> None:
    connection = connections[ALIAS]
    if connection.vendor == "sqlite":
        Path(name).unlink(missing_ok=True)
        return
    with connection.creation._nodb_cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {connection.ops.quote_name(name)} WITH (FORCE)")


def use(name: str) -> None:
    """Point the default connection at database `name` (closing what it held),
    and forget what the process kept of the other one's rows."""
    from django.contrib.contenttypes.models import ContentType

    from hmis_portal.core import cached

    _use(connections[ALIAS], name)
    ContentType.objects.clear_cache()
    cached.forget_everything()
