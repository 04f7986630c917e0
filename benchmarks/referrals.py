"""Referral counts, overdue list and sweep with ~1,000,000 referrals.

    DATABASE_URL=postgres://... .venv/bin/python -m benchmarks.referrals [N]

Works in a throw-away test database (test_<name>), created and dropped here.
Referrals are inserted set-based with generate_series: 90% closed, 10% open
spread over 200 programs of 50 agencies, deadlines around now.
"""

import os
import sys
import time


def main(total: int = 1_000_000) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hmis_portal.settings")
    os.environ.setdefault("DEBUG", "true")
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL database.")
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        run(total)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def timed(label, fn, repeat=5):
    fn()  # warm
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    print(f"{label:<48} {best * 1000:9.1f} ms  ({result})")


def run(total: int) -> None:
    from django.db import connection
    from django.utils import timezone

    from accounts.models import Organization
    from onboarding.models import Program, ProgramType
    from referrals import selectors, services
    from referrals.models import NeedStatus
    from tests.factories import StaffFactory

    kind = ProgramType.objects.get(code="permanent-housing")
    orgs = Organization.objects.bulk_create([Organization(name=f"Bench Agency {i}", slug=f"bench-{i}")
                                             for i in range(50)])
    programs = Program.objects.bulk_create([Program(organization=orgs[i % 50], name=f"Program {i}",
                                                    program_type=kind) for i in range(200)])
    open_ids = list(NeedStatus.objects.filter(is_final=False).values_list("pk", flat=True))
    closed_ids = list(NeedStatus.objects.filter(is_final=True).values_list("pk", flat=True))
    p0, np = programs[0].pk, len(programs)
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"""
            INSERT INTO referrals_referral (program_id, hmis_client_id, contact_name, contact_phone, contact_email,
                contact_notes, status_id, status_entered_at, referred_at, is_open, due_at, escalate_at,
                overdue_notified_at, escalated_at, transfer_reason, version)
            SELECT {p0} + (g %% {np}), 'B' || g, 'Client', '555-0100', '', '',
                CASE WHEN g %% 10 = 0 THEN (ARRAY{open_ids})[1 + g %% {len(open_ids)}]
                     ELSE (ARRAY{closed_ids})[1 + g %% {len(closed_ids)}] END,
                now() - (g %% 400) * interval '1 day', now() - (g %% 400) * interval '1 day',
                g %% 10 = 0,
                CASE WHEN g %% 10 = 0 THEN now() + ((g %% 41) - 20) * interval '1 day' END,
                CASE WHEN g %% 10 = 0 THEN now() + ((g %% 41) - 16) * interval '1 day' END,
                NULL, NULL, '', 1
            FROM generate_series(1, %s) AS g""", [total])
        cursor.execute("ANALYZE referrals_referral")
    print(f"inserted {total:,} referrals in {time.perf_counter() - start:.1f} s "
          f"({total // 10:,} open)")
    ces = StaffFactory(groups=["CES team"])
    from tests.factories import MembershipFactory

    provider = MembershipFactory(organization=orgs[0]).user
    now = timezone.now()
    timed("counts report, CES team (all providers)",
          lambda: sum(e.total for e in selectors.counts_report(ces, now=now)))
    timed("counts report, one provider",
          lambda: sum(e.total for e in selectors.counts_report(provider, now=now)))
    timed("overdue list, first page of 50 (CES team)",
          lambda: len(list(selectors.overdue_referrals(ces, now=now)[:50])))
    timed("overdue count (CES team)", lambda: selectors.overdue_referrals(ces, now=now).count())
    timed("filtered list page (one program, overdue)",
          lambda: len(list(selectors.referral_list(provider, now=now, program=p0, due="overdue")[:50])))
    start = time.perf_counter()
    result = services.sweep_timeliness(now=now)
    print(f"{'sweep, one run (batch of 500 per kind)':<48} {(time.perf_counter() - start) * 1000:9.1f} ms  ({result})")
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN SELECT id FROM referrals_referral WHERE is_open AND overdue_notified_at IS NULL "
                       "AND due_at <= now() ORDER BY due_at LIMIT 500")
        print("sweep selection plan:", cursor.fetchall()[0][0])


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
