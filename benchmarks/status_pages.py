"""The CES Participation Status List as three personas see it, for many
queries and filters, on the demo data and on a grown set of agencies, each
page written to a file: run it before and after a change to the list and
compare the folders (`diff -r`), to show the change drew the same bytes.

    DATABASE_URL=postgres://.../DB .venv/bin/python -m benchmarks.status_pages OUT_FOLDER

Measures DATABASE_URL's database as it is (migrated, loaded with
`seed_demo`, STATIC_ROOT collected), with DEBUG off and the cache in Redis
(`BENCH_REDIS_URL`) as the load benchmark serves pages. The grown agencies
(names with markup, quotes, ampersands, apostrophes and accents; every kind
of agreement and program; a CES role and a program type named with markup)
are added in a transaction that is rolled back. The page's CSRF token and
nonce and the seconds left of the session, new on every response, are
written as a fixed text.
"""

import os
import re
import sys
from pathlib import Path
from urllib.parse import quote

PERSONAS = ["manager@harbor.example.org", "implementation@example.org", "director@harbor.example.org"]
PATH = "/onboarding/participation-status/"
NAMES = ["<b>Bold</b> Shelter", 'The "Quoted" Place', "Food & Beds", "St. Mary's Haven", "Café Éléonore",
         "Ünïcödé Ñandú", "A<script>x</script>", "Plain agency", "&amp; entity", "Zoë's <i>house</i> & \"co\""]


def _queries(roles, kinds, stages) -> list[str]:
    queries = ["", "?page=2", "?page=3", "?page=99", "?page=x", "?page=0", "?page=-1", "?q=agency", "?q=%3Cb%3E",
               "?q=+Haven+", "?q=caf%C3%A9", "?q=%22", "?q=%26", "?q=" + "x" * 101, "?q=" + "y" * 100,
               "?q=&stage=&role=&program_type=", "?role=no-such-role", "?stage=no-such-stage",
               "?program_type=no-such-type", "?q=agency&page=2", "?other=1&q=a", "?q=%3Cb%3E&other=%22%26",
               "?stage=participating&page=2", "?q=Program&program_type=" + kinds[0], "?role=a&role=b",
               "?q=a&q=b", "?page=1&page=2", "?q=%00", "?page=99999999999999999999", "?page=1.5",
               "?q=agency&page=99999999999999999999", "?q=agency&page=3"]
    queries += [f"?stage={stage}" for stage in stages]
    queries += [f"?role={quote(role)}" for role in roles]
    queries += [f"?program_type={quote(kind)}" for kind in kinds]
    queries += [f"?role={quote(roles[0])}&stage={stages[-1]}&q=a"]
    return queries


def _grow(n: int) -> None:
    """`n` agencies with awkward names, every stage of agreement, programs of every kind."""
    from django.utils import timezone

    from accounts.models import Organization
    from onboarding.models import (CESOrganizationRole, OrganizationAgreement, OrganizationCESRole, Program,
                                   ProgramType)

    now = timezone.now()
    CESOrganizationRole.objects.create(code="markup-role", name='<b>Role</b> & "Co"', sort_order=99)
    ProgramType.objects.create(code="markup-type", name="Type <i>&</i> 'x'")
    organizations = Organization.objects.bulk_create([
        Organization(name=f"{NAMES[i % len(NAMES)]} {i:03d}", slug=f"grown-{i}") for i in range(n)])
    statuses = [choice for choice, _ in OrganizationAgreement.Status.choices]
    OrganizationAgreement.objects.bulk_create([OrganizationAgreement(
        organization=o, status=statuses[i % len(statuses)], countersigned_at=now if i % 3 else None,
        expires_on=(now + timezone.timedelta(days=(-30 if i % 7 == 0 else 300))).date())
        for i, o in enumerate(organizations) if i % 5])
    kinds = list(ProgramType.objects.all())
    setups = [choice for choice, _ in Program.SetupStatus.choices]
    Program.objects.bulk_create([Program(
        organization=o, name=f"{NAMES[(i + j) % len(NAMES)]} program {j}", program_type=kinds[(i + j) % len(kinds)],
        setup_status=setups[(i + j) % len(setups)]) for i, o in enumerate(organizations) for j in range(i % 4)])
    roles = list(CESOrganizationRole.objects.all())
    OrganizationCESRole.objects.bulk_create([OrganizationCESRole(organization=o, role=roles[(i + k) % len(roles)])
                                             for i, o in enumerate(organizations) for k in range(i % 3)])


class _Undo(Exception):
    pass


def _write(folder: Path, label: str) -> int:
    from benchmarks._signin import signed_in_client
    from onboarding.models import CESOrganizationRole, ParticipationStage, ProgramType

    written = 0
    roles = [code for code, _ in CESOrganizationRole.named()]
    kinds = [code for code, _ in ProgramType.named()]
    stages = [stage for stage, _ in ParticipationStage.choices]
    for persona in PERSONAS:
        client = signed_in_client(persona, "Status pages")
        for number, query in enumerate(_queries(roles, kinds, stages)):
            response = client.get(PATH + query)
            body = response.content.decode() if response.status_code == 200 else f"status {response.status_code}"
            body = re.sub(r'(name="csrfmiddlewaretoken" value="|data-csrf-token="|data-idle-seconds=")[^"]*', r"\1TOKEN", body)
            body = re.sub(r'(nonce=")[^"]*', r"\1NONCE", body)
            (folder / f"{label}-{persona.split('@')[0]}-{persona.split('@')[1].split('.')[0]}-{number:02d}.html") \
                .write_text(f"{query}\n{body}")
            written += 1
    return written


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        # Nothing to measure without a folder to write to (`make bench` runs every module).
        print("benchmarks.status_pages: give a folder to write the pages to (python -m benchmarks.status_pages -h)")
        return 0
    if args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    folder = Path(args[0])
    folder.mkdir(parents=True, exist_ok=True)
    for key, value in {"REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8"),
                       "DEBUG": "false", "SECRET_KEY": "status-pages-only", "ALLOWED_HOSTS": "testserver",
                       "SECURE_SSL_REDIRECT": "false", "LOG_LEVEL": "WARNING",
                       "PORTAL_BASE_URL": "https://portal.example.org",
                       "DJANGO_SETTINGS_MODULE": "hmis_portal.settings"}.items():
        os.environ.setdefault(key, value)
    import django

    django.setup()
    from django.db import transaction

    written = _write(folder, "demo")
    try:
        with transaction.atomic():
            _grow(260)
            written += _write(folder, "grown")
            raise _Undo
    except _Undo:
        pass
    print(f"{written} pages written to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
