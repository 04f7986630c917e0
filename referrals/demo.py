"""Demo referrals: every need status, some due soon, some overdue, at Harbor
Light Housing and two other agencies. Idempotent: a referral is found by its
program and (invented) client ID and left alone when it exists.

Built through the services with past moments, so the demo exercises the same
rules (allowed transitions, dates) as the portal, and its history feeds the
timeliness chart.
"""

import datetime as dt

from django.template.defaultfilters import pluralize
from django.utils import timezone

from accounts.demo import demo_organization, demo_user
from accounts.models import CoCGroup, Persona, User
from hmis_portal.core import calendar
from hmis_portal.core.models import Notification
from onboarding.demo import participating

from . import services
from .models import NeedStatus, Referral

# (agency, program, program type code)
PROGRAMS = {
    "harbor-psh": ("Harbor Light Housing", "Harbor Light Permanent Supportive Housing", "permanent-housing"),
    "harbor-rrh": ("Harbor Light Housing", "Harbor Light Rapid Rehousing", "permanent-housing"),
    "cedar": ("Oak Hollow Housing Services", "Oak Hollow Family Housing", "permanent-housing"),
    "mesa": ("Pine Ridge Housing Collaborative", "Pine Ridge Transitional Housing", "transitional-housing"),
}

# (program key, client ID, [(status code or action, days ago)...]); the first
# step is the referral itself. Actions: "move-in", "transfer".
REFERRALS = [
    ("harbor-psh", "DEMO-1001", [("referred", 0)]),                                   # due in 2 business days
    ("harbor-psh", "DEMO-1002", [("referred", 1)]),                                   # due soon
    ("harbor-psh", "DEMO-1003", [("referred", 8)]),                                   # overdue
    ("harbor-psh", "DEMO-1004", [("referred", 11), ("attempting-contact", 9)]),       # due soon
    ("harbor-psh", "DEMO-1005", [("referred", 20), ("attempting-contact", 14)]),      # overdue
    ("harbor-psh", "DEMO-1006", [("referred", 6), ("attempting-contact", 5), ("engaged", 3)]),
    ("harbor-psh", "DEMO-1007", [("referred", 75), ("attempting-contact", 74), ("engaged", 65), ("enrolled", 50),
                                 ("move-in", 40)]),
    ("harbor-psh", "DEMO-1008", [("referred", 40), ("engaged", 38), ("enrolled", 30)]),
    ("harbor-psh", "DEMO-1009", [("referred", 45), ("attempting-contact", 41), ("declined-by-client", 35)]),
    ("harbor-psh", "DEMO-1010", [("referred", 12), ("rematch-needed", 7)]),
    ("harbor-rrh", "DEMO-1011", [("referred", 2)]),
    ("harbor-rrh", "DEMO-1012", [("referred", 30), ("attempting-contact", 29), ("engaged", 20)]),   # overdue
    ("harbor-rrh", "DEMO-1013", [("referred", 100), ("declined-by-provider", 97)]),
    ("harbor-rrh", "DEMO-1014", [("referred", 90), ("attempting-contact", 88), ("unable-to-contact", 70)]),
    ("harbor-rrh", "DEMO-1015", [("referred", 25), ("did-not-respond", 18)]),
    ("harbor-rrh", "DEMO-1016", [("referred", 120), ("attempting-contact", 119), ("engaged", 110),
                                 ("enrolled", 95), ("move-in", 80), ("transfer", 3)]),
    ("cedar", "DEMO-2001", [("referred", 9)]),                                        # overdue
    ("cedar", "DEMO-2002", [("referred", 4), ("attempting-contact", 3)]),
    ("cedar", "DEMO-2003", [("referred", 60), ("attempting-contact", 58), ("engaged", 50), ("enrolled", 33)]),
    ("mesa", "DEMO-3001", [("referred", 14)]),                                        # long overdue
    ("mesa", "DEMO-3002", [("referred", 16), ("attempting-contact", 15), ("engaged", 14)]),          # due soon
]

# Referrals whose CE enrollment ID the CES team has not typed yet (the
# newest, made today, and one to a program long overdue): the HUD Event.csv
# page lists them as left out. Every other one has its ID, as the HMIS made it.
WITHOUT_CE_ENROLLMENT = {"DEMO-1001", "DEMO-3001"}


def ce_enrollment_id(client_id: str) -> str:
    """The demo client's (invented) Coordinated Entry enrollment ID in the HMIS."""
    return f"CE-ENR-{client_id.removeprefix('DEMO-')}"


DOMAINS = {"Harbor Light Housing": "harbor", "Oak Hollow Housing Services": "oakhollow",
           "Pine Ridge Housing Collaborative": "pineridge"}

CONTACT_NOTES = "Usually at the Access Center weekday mornings; the housing navigator can set up a meeting."


def _leads(organization, domain):
    """The agency's Executive Director and Program Manager, who take it
    through steps 1 and 2 (no printed login)."""
    first = organization.name.split()[0]
    director = User.objects.filter(email=f"director@{domain}.example.org").first() or demo_user(
        f"director@{domain}.example.org", f"{first} Director", memberships=[(organization, Persona.EXECUTIVE_DIRECTOR)])
    manager = User.objects.filter(email=f"manager@{domain}.example.org").first() or demo_user(
        f"manager@{domain}.example.org", f"{first} Manager", memberships=[(organization, Persona.PROGRAM_MANAGER)])
    return director, manager


def _programs():
    """The providers' programs, made referable as a real agency's are: its
    agreement executed and each program's setup confirmed, through
    onboarding's services (referrals go nowhere else)."""
    programs = {}
    for key, (agency, name, type_code) in PROGRAMS.items():
        organization = demo_organization(agency)
        director, manager = _leads(organization, DOMAINS[agency])
        programs[key] = participating(organization, director=director, manager=manager,
                                      programs=[(name, type_code)])[name]
    return programs


def seed(stdout) -> None:
    matcher = demo_user("matcher@example.org", "Morgan Matcher", label="CES matcher (CES team)",
                        staff_groups=[CoCGroup.CES_TEAM])
    programs = _programs()
    harbor_staff = demo_user("staff@harbor.example.org", "Sam Staff",
                             memberships=[(programs["harbor-psh"].organization, Persona.STAFF)])
    cedar_staff = demo_user("housing@oakhollow.example.org", "Lee Housing",
                            label="Housing provider staff (Oak Hollow Housing Services)",
                            memberships=[(programs["cedar"].organization, Persona.STAFF)])
    mesa_staff = demo_user("housing@pineridge.example.org", "Robin Housing",
                           memberships=[(programs["mesa"].organization, Persona.STAFF)])
    # Provider staff work referrals with granted, active HMIS access at their
    # agency (SPEC §4): HMIS access, a later stage, gave it to these two
    # (hmis_access.demo.seed_housing_provider_access) before this runs.
    staff_for = {"harbor-psh": harbor_staff, "harbor-rrh": harbor_staff, "cedar": cedar_staff, "mesa": mesa_staff}
    statuses = {s.code: s for s in NeedStatus.objects.all()}
    first_notification = Notification.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    now = timezone.now()
    created = 0
    for key, client_id, steps in REFERRALS:
        program = programs[key]
        if Referral.objects.filter(program=program, hmis_client_id=client_id).exists():
            continue
        provider = staff_for[key]
        (_, referred_days), *rest = steps
        referral = services.referral_create(
            actor=matcher, program=program, hmis_client_id=client_id, contact_name=f"Client {client_id[-4:]}",
            contact_phone="555-0100", contact_email=f"client{client_id[-4:]}@example.org",
            contact_notes=CONTACT_NOTES, at=now - dt.timedelta(days=referred_days, hours=2))
        if client_id not in WITHOUT_CE_ENROLLMENT:
            services.referral_record_ce_enrollment(actor=matcher, referral_id=referral.pk,
                                                   ce_enrollment_id=ce_enrollment_id(client_id))
        for action, days_ago in rest:
            at = now - dt.timedelta(days=days_ago, hours=1)
            if action == "move-in":
                services.referral_record_move_in(actor=provider, referral_id=referral.pk,
                                                 move_in_date=calendar.local_date(at), at=at)
            elif action == "transfer":
                services.referral_request_transfer(
                    actor=provider, referral_id=referral.pk, at=at,
                    reason="The client needs a ground-floor unit for a mobility need; none is available.")
            else:
                status = statuses[action]
                services.referral_change_status(
                    actor=matcher if status.ces_team_only else provider, referral_id=referral.pk, to_status=status,
                    at=at, note="" if not status.requires_reason else "Recorded for the demo.",
                    enrollment_date=calendar.local_date(at) if status.accepts_client else None)
        created += 1
    # The demo's messages describe a made-up past: drop them before they are sent.
    Notification.objects.filter(pk__gt=first_notification, link__startswith="/referrals/").delete()
    stdout.write(f"referrals: {created} demo referral{pluralize(created)} created, {Referral.objects.count()} in all")
