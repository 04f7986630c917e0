"""Reads of training records, narrowed to what the person may see (STYLE §4)."""

from django.db.models import Count, Q
from django.shortcuts import get_object_or_404
from django.utils import timezone

from dataclasses import dataclass, field

from accounts.access import require_person_readable, restrict_agency_people
from accounts.models import User

from .models import CESRole, Certificate, FormSubmission, FormTemplate, Registration, Review, Signer, TrainingSession


def upcoming_sessions(*, course_code: str | None = None):
    sessions = (TrainingSession.objects.filter(starts_at__gt=timezone.now(), cancelled=False)
                .select_related("course")
                .annotate(taken=Count("registrations", filter=Q(registrations__status__in=["registered", "attended"])),
                          waiting=Count("registrations", filter=Q(registrations__status="waitlisted"))))
    if course_code:
        sessions = sessions.filter(course__code=course_code)
    return sessions.order_by("starts_at", "pk")


def my_registrations(user):
    return (Registration.objects.filter(user=user).exclude(status=Registration.Status.CANCELLED)
            .select_related("session__course").order_by("session__starts_at"))


def access_registration(user, pk) -> Registration:
    """A person's own registration; anyone else's is a 404."""
    return get_object_or_404(Registration.objects.select_related("session__course", "user"), pk=pk, user=user)


def _access_document(model, user, pk):
    """The owner, the leads of an agency the owner belongs to, and the CoC
    staff who verify or provision may open a person's certificate or form
    (`accounts.access.can_read_user_document`). Someone who cannot see any of
    the owner's agencies gets a 404: the document's existence is not told."""
    obj = get_object_or_404(model.objects.select_related("user"), pk=pk)
    require_person_readable(user, obj.user)
    return obj


def access_form_owner(user, user_id: int):
    """The person whose forms an agency lead signs or files: someone of an
    agency `user` may see (404 otherwise), a lead there (403 otherwise)."""
    owner = get_object_or_404(restrict_agency_people(User.objects.all()), pk=user_id)
    require_person_readable(user, owner)
    return owner


@dataclass
class FormProgress:
    """Where one person's form stands: its versions, the one being signed (or
    the latest), who signed it and when, and whose turn it is."""

    form: object
    owner: object
    versions: list = field(default_factory=list)
    latest: object = None
    signatures: list = field(default_factory=list)
    next_role: str = ""
    complete: bool = False

    @property
    def next_label(self) -> str:
        if not self.next_role:
            return ""
        return "the user" if self.next_role == Signer.USER else f"the agency's {Signer(self.next_role).label}"

    @property
    def places(self) -> list[dict]:
        signed = {sig.position: sig for sig in self.signatures}
        return [{"role": role, "label": Signer(role).label, "signature": signed.get(i),
                 "next": role == self.next_role and i == len(self.signatures)}
                for i, role in enumerate(self.form.signer_roles)]


def form_progress(form, owner) -> FormProgress:
    versions = list(FormSubmission.objects.filter(user=owner, form=form).prefetch_related("signatures__signer")
                    .order_by("-version"))
    progress = FormProgress(form=form, owner=owner, versions=versions)
    live = [v for v in versions if v.status != Review.SUPERSEDED]
    latest = live[0] if live else None
    progress.latest = latest
    progress.complete = any(v.status == Review.VERIFIED for v in versions)
    roles = form.signer_roles
    if latest is not None and latest.status in (Review.SIGNING, Review.SUBMITTED, Review.VERIFIED):
        progress.signatures = list(latest.signatures.all())
    if not progress.complete:
        if latest is None or latest.status == Review.RETURNED:
            progress.next_role = roles[0]
        elif latest.status == Review.SIGNING and len(progress.signatures) < len(roles):
            progress.next_role = roles[len(progress.signatures)]
        elif latest.status == Review.SUBMITTED and len(roles) == 1:
            progress.next_role = roles[0]  # a new upload replaces the one awaiting review
    return progress


def active_forms_with_templates() -> list:
    """The active required forms, each with its current blank version as
    `current_template`: every checklist reads them, so they are kept in
    `core.cached` until a form or a blank version changes."""
    from hmis_portal.core import cached

    from .models import RequiredForm

    def load():
        forms = list(RequiredForm.objects.filter(active=True))
        templates = current_templates(forms)
        for form in forms:
            form.current_template = templates.get(form.pk)
        return forms

    return cached.read("training:active-forms", load, depends=(RequiredForm.cache_name(), FormTemplate.cache_name()))


def current_templates(forms) -> dict[int, FormTemplate]:
    """The current blank version of each form, by form id (one query)."""
    current = {}
    for template in FormTemplate.objects.filter(form__in=list(forms)).order_by("form_id", "-version"):
        current.setdefault(template.form_id, template)
    return current


def access_certificate(user, pk) -> Certificate:
    return _access_document(Certificate, user, pk)


def access_form_submission(user, pk) -> FormSubmission:
    return _access_document(FormSubmission, user, pk)


def referral_hmis_roles():
    """The HMIS roles that work CES referrals: those of the CoC's CES roles
    marked so (policy rows), as a flat queryset that a query can nest."""
    from .models import CESRole

    return CESRole.objects.filter(works_referrals=True).values_list("hmis_role", flat=True)


# ---------------------------------------------------------------- the HMIS's groups of the HMIS roles

def hmis_groups() -> dict[str, str]:
    """The HMIS group of each HMIS role (the CES roles' policy rows, retired
    ones too, for accounts granted before they were retired; an offered role's
    row first). One query."""
    groups: dict[str, str] = {}
    for role, group in (CESRole.objects.order_by("-active", "access_rank")
                        .values_list("hmis_role", "hmis_group")):
        groups.setdefault(role, group or role)
    return groups
