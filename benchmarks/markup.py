"""Every active person's home page as served, for comparing a change's markup
before and after it: each page (the CSRF tokens and the idle timer's seconds
masked) and its `<main>` written to a folder, one file each.

    DATABASE_URL=postgres://.../DB .venv/bin/python -m benchmarks.markup FOLDER [--path /]
    (change the code)  ... -m benchmarks.markup FOLDER2;  diff -r FOLDER FOLDER2

DATABASE_URL's database is measured as it is (migrated and loaded with
`seed_demo`), served as `benchmarks.calls` serves it (DEBUG off, manifest
static files, the shared cache in `BENCH_REDIS_URL`). Each page is served
three times, the first drawing what is kept per process and the others
reading it: the three must be the same.
"""

import argparse
import os
import re
import sys

TOKEN = re.compile(r'(name="csrfmiddlewaretoken" value="|data-csrf-token=")[A-Za-z0-9]{64}"')
IDLE = re.compile(r'data-idle-seconds="\d+"')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.markup")
    parser.add_argument("folder", nargs="?", help="where to write the pages")
    parser.add_argument("--path", default="/")
    args, _unknown = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if not args.folder or not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("benchmarks.markup: give a folder, with DATABASE_URL a database loaded with seed_demo")
        return 0
    from benchmarks.calls import _environment, serve

    for name, value in _environment(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")).items():
        os.environ.setdefault(name, value)
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from benchmarks._signin import signed_in_client

    if not os.path.exists(os.path.join(settings.STATIC_ROOT, "staticfiles.json")):
        call_command("collectstatic", interactive=False, verbosity=0)
    os.makedirs(args.folder, exist_ok=True)
    people = 0
    for user in get_user_model().objects.filter(is_active=True).order_by("email"):
        session_key = signed_in_client(user.email, "Calls benchmark").session.session_key
        pages = set()
        for _ in range(3):
            status, body = serve(args.path, session_key)
            if not status.startswith("200"):
                raise SystemExit(f"benchmarks.markup: {args.path} answered {status} to {user.email}")
            pages.add(IDLE.sub('data-idle-seconds="N"', TOKEN.sub(r'\1TOKEN"', body.decode())))
        if len(pages) != 1:
            raise SystemExit(f"benchmarks.markup: {user.email}'s page drawn afresh and kept differ")
        page = pages.pop()
        with open(os.path.join(args.folder, user.email), "w") as out:
            out.write(page)
        with open(os.path.join(args.folder, f"{user.email}.main"), "w") as out:
            out.write(page[page.index("<main"):page.index("</main>")])
        people += 1
    print(f"{people} people's pages written to {args.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
