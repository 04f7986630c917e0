"""Demo data partnerships: Riverbend Community Outreach, which does not use
HMIS, sends its Coordinated Entry intakes to Harbor Light Housing (active,
with batches entered on time, late, waiting and overdue); Juniper Street
Drop-In has proposed one to Harbor Light that waits for its Executive
Director. Idempotent: a partnership is found by its two agencies and left
alone when it exists. Built through the services with past moments."""

import datetime as dt

from django.core.files.base import ContentFile
from django.utils import timezone

from accounts.demo import demo_organization, demo_user
from accounts.models import Persona
from hmis_portal.core import calendar
from hmis_portal.core.models import Notification
from onboarding.demo import participating

from . import services
from .models import DataPartnership

PDF = b"%PDF-1.4\n% demo MOA\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

# (business days before today it was received, intakes, reference, entered after how many hours, or None)
BATCHES = [(12, 4, "RB-001", 20), (9, 2, "RB-002", 130), (6, 5, "RB-003", None), (1, 3, "RB-004", None),
           (0, 1, "RB-005", None)]


def _moa():
    upload = ContentFile(PDF, name="moa.pdf")
    return upload


def _partner():
    harbor = demo_organization("Harbor Light Housing")
    director = demo_user("director@harbor.example.org", "Dana Director",
                         memberships=[(harbor, Persona.EXECUTIVE_DIRECTOR)])
    # A partner participates in HMIS: its agreement executed through
    # onboarding's services, as a real agency's is.
    participating(harbor, director=director)
    return harbor, director


def _business_days_ago(days, business):
    day = calendar.local_date()
    while days:
        day -= dt.timedelta(days=1)
        if business.is_business_day(day):
            days -= 1
    return calendar.start_of_day(day) + dt.timedelta(hours=10)


def seed(stdout) -> None:
    harbor, harbor_director = _partner()
    riverbend = demo_organization("Riverbend Community Outreach")
    riverbend_director = demo_user("director@riverbendoutreach.example.org", "Rowan Director",
                                   label="Executive Director (Riverbend Community Outreach, not an HMIS user)",
                                   memberships=[(riverbend, Persona.EXECUTIVE_DIRECTOR)])
    riverbend_staff = demo_user("intake@riverbendoutreach.example.org", "Casey Intake",
                                label="Intake staff (Riverbend Community Outreach)",
                                memberships=[(riverbend, Persona.STAFF)])
    harbor_staff = demo_user("staff@harbor.example.org", "Sam Staff", memberships=[(harbor, Persona.STAFF)])
    juniper = demo_organization("Juniper Street Drop-In")
    juniper_director = demo_user("director@juniper.example.org", "Jesse Director",
                                 label="Executive Director (Juniper Street Drop-In, not an HMIS user)",
                                 memberships=[(juniper, Persona.EXECUTIVE_DIRECTOR)])
    first_notification = Notification.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    business = calendar.BusinessCalendar.load()
    created = 0
    now = timezone.now()
    if not DataPartnership.objects.filter(agency=riverbend, partner=harbor).exists():
        start = _business_days_ago(15, business)
        partnership = services.partnership_propose(
            actor=riverbend_director, agency=riverbend, partner=harbor, upload=_moa(),
            moa_signed_on=calendar.local_date(start), at=start)
        services.partnership_accept(actor=harbor_director, partnership_id=partnership.pk,
                                    at=start + dt.timedelta(hours=3))
        for days_ago, count, reference, entered_after in BATCHES:
            received = min(_business_days_ago(days_ago, business), now - dt.timedelta(minutes=30))
            batch = services.intake_batch_record(
                actor=riverbend_staff, partnership_id=partnership.pk, received_at=received, intake_count=count,
                reference=reference, note="Sent by secure email.", at=received + dt.timedelta(minutes=10))
            if entered_after is not None:
                services.intake_batch_record_entry(actor=harbor_staff, batch_id=batch.pk,
                                                   entered_at=received + dt.timedelta(hours=entered_after))
        created += 1
    if not DataPartnership.objects.filter(agency=juniper, partner=harbor).exists():
        start = now - dt.timedelta(days=1)
        services.partnership_propose(actor=juniper_director, agency=juniper, partner=harbor, upload=_moa(),
                                     moa_signed_on=calendar.local_date(start), at=start)
        created += 1
    # The demo's messages describe a made-up past: drop them before they are sent.
    Notification.objects.filter(pk__gt=first_notification, link__startswith="/partnerships/").delete()
    stdout.write(f"data partnerships: {created} created, {DataPartnership.objects.count()} in all")
