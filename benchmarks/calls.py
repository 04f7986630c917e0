"""What one warm signed-in request costs, counted rather than timed: Python
function calls (cProfile) and database queries, for a page and a persona.

    DATABASE_URL=postgres://.../DB .venv/bin/python -m benchmarks.calls [--here]
        [--page PATH --persona EMAIL] [--top 25] [--sort cumulative|tottime]

Timings on a shared machine are noise; the calls of a warm request are the
same from run to run, so a change to a page shows as a change of its count.
The request is served as gunicorn serves it in the load benchmark: the WSGI
handler, the whole middleware stack, DEBUG off, the manifest static files
storage, production's shared cache (Redis, `BENCH_REDIS_URL`), the
benchmark's settings (`benchmarks._reference`, so its reference page is
measured too), a demo persona signed in with a second factor. The request
measured is the third (the first two warm the process's templates and
kept answers, and the person's copies in the cache).

Without `--page`, it measures the reference page and the home page of the
Program Manager, Agency Administrator, Executive Director and an end user.
`--top N` prints each page's N functions with the most cumulative time
(`--sort tottime`: their own time), whose call counts say where the calls go.

Without `--here` it makes a throw-away database (<name>_calls) beside
DATABASE_URL's, migrates it, loads the demo data, collects the static files
and drops the database after; `--here` measures DATABASE_URL's database as it
is (migrated and loaded with `seed_demo`); the static files are collected into
STATIC_ROOT first when its manifest is missing.
"""

import argparse
import cProfile
import io
import os
import pstats
import subprocess
import sys

DEFAULT_PAGES = [
    ("bare signed-in view (reference)", "manager@northside.example.org", "/benchmark/signed-in/"),
    ("home, Program Manager", "manager@northside.example.org", "/"),
    ("home, Agency Administrator", "agencyadmin@harbor.example.org", "/"),
    ("home, Executive Director", "director@harbor.example.org", "/"),
    ("home, end user", "staff@harbor.example.org", "/"),
]


def _environment(redis_url: str) -> dict:
    return {"DJANGO_SETTINGS_MODULE": "benchmarks._reference", "REDIS_URL": redis_url, "DEBUG": "false",
            "SECRET_KEY": "calls-benchmark-only", "ALLOWED_HOSTS": "testserver", "SECURE_SSL_REDIRECT": "false",
            "SESSION_COOKIE_SECURE": "false", "CSRF_COOKIE_SECURE": "false", "SECURE_HSTS_SECONDS": "0",
            "LOG_LEVEL": "WARNING"}


def serve(path: str, session_key: str):
    """One request through the WSGI handler, as gunicorn makes it: (status, body)."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.client import FakePayload

    global _handler
    if _handler is None:
        _handler = WSGIHandler()
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SCRIPT_NAME": "",
        "SERVER_NAME": "testserver", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver", "HTTP_COOKIE": f"sessionid={session_key}", "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": FakePayload(b""),
        "wsgi.errors": sys.stderr, "wsgi.multiprocess": True, "wsgi.multithread": False, "wsgi.run_once": False,
    }
    started = []
    response = _handler(environ, lambda status, headers, exc_info=None: started.append(status))
    try:
        body = b"".join(response)
    finally:
        response.close()
    return started[0], body


_handler = None


def measure(path: str, session_key: str, *, top: int = 0, sort: str = "cumulative") -> dict:
    """The third request's calls (total and primitive), queries and, with `top`, its profile's top lines."""
    from django.db import connection

    for _ in range(2):
        status, _body = serve(path, session_key)
        if not status.startswith("200"):
            raise SystemExit(f"benchmarks.calls: {path} answered {status}, not 200")
    sql = []
    profile = cProfile.Profile()
    with connection.execute_wrapper(lambda execute, *args: sql.append(args[0]) or execute(*args)):
        profile.enable()
        status, body = serve(path, session_key)
        profile.disable()
    if not status.startswith("200"):
        raise SystemExit(f"benchmarks.calls: {path} answered {status}, not 200")
    stats = pstats.Stats(profile)
    out = io.StringIO()
    if top:
        stats.stream = out
        stats.sort_stats(sort).print_stats(top)
    return {"calls": stats.total_calls, "primitive": stats.prim_calls, "queries": len(sql), "sql": sql,
            "bytes": len(body), "profile": out.getvalue()}


def _here(args) -> int:
    for name, value in _environment(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")).items():
        os.environ.setdefault(name, value)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    if not os.path.exists(os.path.join(settings.STATIC_ROOT, "staticfiles.json")):
        call_command("collectstatic", interactive=False, verbosity=0)
    from benchmarks._signin import signed_in_client

    pages = [(args.page, args.persona, args.page)] if args.page else DEFAULT_PAGES
    sessions = {email: signed_in_client(email, "Calls benchmark").session.session_key for _, email, _ in pages}
    # Every page served before any is measured, as a server's process has served them all: what one
    # page leaves in the process (Django's context-local state, which every later request's logging
    # walks) is then there for each.
    for _, email, path in pages:
        serve(path, sessions[email])
    print(f"{'page':34} {'calls':>7} {'primitive':>9} {'queries':>7} {'bytes':>7}")
    for label, email, path in pages:
        figures = measure(path, sessions[email], top=args.top, sort=args.sort)
        print(f"{label:34} {figures['calls']:7d} {figures['primitive']:9d} {figures['queries']:7d} "
              f"{figures['bytes']:7d}", flush=True)
        if args.sql:
            for query in figures["sql"]:
                print("    ", query[:160])
        if args.top:
            print(figures["profile"])
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.calls")
    parser.add_argument("--here", action="store_true", help="measure DATABASE_URL's database as it is")
    parser.add_argument("--page", default="", help="a path (with --persona); default: the reference and homes")
    parser.add_argument("--persona", default="manager@northside.example.org", help="a demo persona's email")
    parser.add_argument("--top", type=int, default=0, help="print each page's N top functions")
    parser.add_argument("--sort", default="cumulative", choices=("cumulative", "tottime"))
    parser.add_argument("--sql", action="store_true", help="print each query")
    args, _unknown = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if args.here:
        return _here(args)
    from benchmarks.load import ROOT, _database_url, demo_database

    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        print("benchmarks.calls: set DATABASE_URL to a PostgreSQL server (a throw-away database is made beside it)")
        return 0
    name = f"{base.rsplit('/', 1)[-1] or 'hmis_portal'}_calls"
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
    env = {**{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}, **_environment(redis_url),
           "DATABASE_URL": _database_url(base, name)}
    with demo_database(base, name, env, redis_url):
        child = [sys.executable, "-m", "benchmarks.calls", "--here", *(sys.argv[1:] if argv is None else argv)]
        return subprocess.run(child, cwd=ROOT, env=env, timeout=1800).returncode


if __name__ == "__main__":
    sys.exit(main())
