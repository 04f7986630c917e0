"""The user's checklist for an access request, derived from the training policy
and the person's records (seed 000, step 3; SPEC §3.3). Shown to the user, to
the agency and to CoC staff, and the only thing readiness is decided on.

`build_checklists` loads everything for many requests in a constant number of
queries.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Value
from django.urls import reverse

from hmis_portal.core import cached
from hmis_portal.core.dates import day_text
from training import policy
from training.models import (AccessCapability, Certificate, CESRole, Completion, Course, FormSubmission,
                             Registration, Review, Signer)
from training.selectors import active_forms_with_templates


@dataclass
class ChecklistItem:
    kind: str  # "agreement", "programs", "course", "form"
    label: str
    done: bool
    status: str
    action_label: str = ""
    action_url: str = ""
    obj: object = None
    # Forms: whose turn it is (a role of training.models.Signer, "" when
    # nobody's), where the agency's signer acts, and the blank to download.
    next_role: str = ""
    agency_url: str = ""
    template: object = None
    # What the item waits for before anyone can act on it (the pack's
    # `waits_for`): labels of checklist items not done yet, or CoC approval.
    waits: list[str] = field(default_factory=list)
    wait_codes: list[str] = field(default_factory=list)
    # Not done, and not the user's to do: whom it waits on ("the agency's
    # Agency Administrator", "CoC training staff, to verify it"); shown as
    # waiting, not as a failure, and not counted among the user's items left.
    waiting_on: str = ""


@dataclass
class Checklist:
    request: object
    items: list[ChecklistItem] = field(default_factory=list)
    hmis_role: str = ""
    highest_role: object = None
    # Capabilities of the person's roles the HMIS role lacks (the access matrix).
    left_out: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return all(item.done for item in self.items)

    @property
    def blockers(self) -> list[ChecklistItem]:
        return [item for item in self.items if not item.done]

    @property
    def blocker_text(self) -> str:
        return "; ".join(item.label for item in self.blockers)

    @property
    def own_blockers(self) -> list[ChecklistItem]:
        """What the user does themself (the home page's "items left")."""
        return [item for item in self.blockers if not item.waiting_on]

    @property
    def waiting_on_others(self) -> list[ChecklistItem]:
        """What the agency or the CoC must do before access."""
        return [item for item in self.blockers if item.waiting_on]


def participation_state(organization) -> tuple[bool, set[int]]:
    """(agreement executed?, ids of confirmed programs): steps 1 and 2, which
    seed 000 says must be complete before step 3."""
    from onboarding import selectors

    # One query: the confirmed programs' ids, and a 0 when an agreement is
    # executed and in force (no program has the id 0).
    executed = selectors.executed_agreements(organization).order_by().annotate(
        step_one=Value(0)).values_list("step_one", flat=True)
    found = set(selectors.confirmed_programs(organization).order_by().values_list("pk", flat=True).union(executed))
    return 0 in found, found - {0}


def for_checklists(queryset):
    """`queryset` of access requests with what their checklists read (the
    courses of each role and those each course also covers come from the
    cache: `CESRole.courses_by_role`, `Course.covers`; a checklist reads
    neither the roles' nor the programs' types)."""
    return (queryset.select_related("user", "organization", "requested_by")
            .prefetch_related("roles", "programs"))


def _prefetch_requests(requests):
    from .models import AccessRequest

    ids = [r.pk for r in requests]
    return list(for_checklists(AccessRequest.objects.filter(pk__in=ids)).order_by("-created_at", "-pk"))


def build_checklists(requests, *, prefetched: bool = False) -> list[Checklist]:
    """Checklists of `requests`; `prefetched` when they come from `for_checklists` already."""
    requests = list(requests) if prefetched else _prefetch_requests(requests)
    if not requests:
        return []
    user_ids = {r.user_id for r in requests}
    completions = defaultdict(list)
    for completion in Completion.objects.filter(user_id__in=user_ids).select_related("course"):
        completions[completion.user_id].append(completion)
    registrations = defaultdict(list)
    for registration in Registration.objects.filter(
            user_id__in=user_ids, status__in=[Registration.Status.REGISTERED, Registration.Status.WAITLISTED],
    ).select_related("session"):
        registrations[registration.user_id].append(registration)
    certificates = defaultdict(list)
    for certificate in Certificate.objects.filter(user_id__in=user_ids, status__in=[Review.SUBMITTED,
                                                                                   Review.RETURNED]):
        certificates[certificate.user_id].append(certificate)
    submissions = defaultdict(list)
    for submission in FormSubmission.objects.filter(user_id__in=user_ids).exclude(
            status=Review.SUPERSEDED).prefetch_related("signatures"):
        submissions[submission.user_id].append(submission)
    ladder, matrix = access_matrix()
    forms = active_forms_with_templates()
    # Read once for all the checklists: outside a web request `core.cached`
    # keeps nothing between reads (a refresh of an agency's requests, a sweep).
    courses = _Courses(by_role=CESRole.courses_by_role(), covers=Course.covers())
    participation = {}
    for request in requests:
        if request.organization_id not in participation:
            participation[request.organization_id] = participation_state(request.organization)
    return [
        _checklist(request, participation[request.organization_id], completions[request.user_id],
                   registrations[request.user_id], certificates[request.user_id], submissions[request.user_id], forms,
                   policy.role_from_matrix(request.roles.all(), ladder, matrix), courses)
        for request in requests
    ]


def build_checklist(request) -> Checklist:
    return build_checklists([request])[0]


def access_matrix() -> tuple[list, dict[int, list[str]]]:
    """The CoC's CES roles and the capability names of each (seed 000's
    access matrix, from the policy pack): two queries, kept in `core.cached`
    until a role or a matrix row changes."""
    def load():
        matrix = defaultdict(list)
        for role_id, name in (AccessCapability.roles.through.objects.order_by("accesscapability__sort_order",
                                                                                "accesscapability__name")
                              .values_list("cesrole_id", "accesscapability__name")):
            matrix[role_id].append(name)
        return list(CESRole.objects.filter(active=True)), dict(matrix)

    return cached.read("training:access-matrix", load, depends=(CESRole.cache_name(), AccessCapability.cache_name()))


@dataclass
class _Courses:
    """The courses each role requires and those each course also covers."""
    by_role: dict
    covers: dict


def _checklist(request, participation, completions, registrations, certificates, submissions, forms,
               choice, read: _Courses) -> Checklist:
    executed, confirmed_ids = participation
    roles = list(request.roles.all())
    new_user = request.new_hmis_user
    checklist = Checklist(request=request, hmis_role=choice.hmis_role, highest_role=choice.role,
                          left_out=choice.left_out)
    items = checklist.items
    # Where the CoC's policy has an approval step (seed 003), the request's
    # own state says so: a request made before the step was turned on never
    # waits for it, and one approved keeps the line after the switch is off.
    awaiting = request.status == request.Status.AWAITING_APPROVAL
    approved = not awaiting and request.status != request.Status.DECLINED
    if awaiting or request.decided_at is not None:
        if awaiting:
            status = "Waiting for CoC staff to approve the request; trainings and forms start after that"
        elif request.status == request.Status.DECLINED:
            status = f"Declined {day_text(request.decided_at)}: {request.decline_reason}"
        else:
            status = f"Approved {day_text(request.decided_at)}"
        items.append(ChecklistItem("approval", "CoC approval of the request", approved, status,
                                   waiting_on="CoC staff, to approve the request" if awaiting else ""))
    items.append(ChecklistItem(
        "agreement", "Organization Agreement executed", executed,
        "Executed" if executed else f"{request.organization}'s Organization Agreement is not executed yet (step 1).",
        waiting_on="" if executed else "the agency's Executive Director and the CoC (step 1)",
    ))
    programs = list(request.programs.all())
    unconfirmed = [p for p in programs if p.pk not in confirmed_ids]
    names = ", ".join(p.name for p in programs) or "none named"
    items.append(ChecklistItem(
        "programs", f"Program setup confirmed ({names})", not unconfirmed,
        "Confirmed" if not unconfirmed else
        "Not confirmed yet (step 2): " + ", ".join(p.name for p in unconfirmed),
        waiting_on="the agency's Program Manager and the CoC (step 2)" if unconfirmed else "",
    ))

    done_courses = policy.completed_course_ids(completions, covers=read.covers)
    covers = read.covers
    by_course = {c.course_id: c for c in completions}
    courses = policy.required_courses(roles, new_user=new_user, by_role=read.by_role, covers=read.covers)
    for course in courses:
        done = course.pk in done_courses
        action_label = action_url = waiting_on = ""
        if done:
            completion = by_course.get(course.pk) or next(
                (c for c in completions if course.pk in covers.get(c.course_id, ())), None)
            status = (f"Completed {day_text(completion.completed_on)} ({completion.get_source_display().lower()})"
                      if completion else "Completed")
        else:
            pending = [r for r in registrations if r.session.course_id == course.pk]
            certificate = next((c for c in certificates if c.course_id == course.pk), None)
            if certificate and certificate.status == Review.SUBMITTED:
                status = "Certificate uploaded, awaiting verification by CoC training staff"
                waiting_on = "CoC training staff, to verify the certificate"
            elif pending:
                registration = pending[0]
                status = f"{registration.get_status_display()} for {registration.session}"
            else:
                status, action_label, action_url = _take(course)
                if certificate and certificate.status == Review.RETURNED:
                    status = f"Certificate returned: {certificate.reason}"
        items.append(ChecklistItem("course", course.label, done, status, action_label, action_url, course,
                                   waiting_on=waiting_on))

    for form in policy.required_forms(forms, new_user=new_user, courses=courses):
        mine = sorted((s for s in submissions if s.form_id == form.pk), key=lambda s: s.version, reverse=True)
        items.append(_form_item(form, mine[0] if mine else None, request.user))
    _mark_waits(items, approved=approved)
    return checklist


def _mark_waits(items, *, approved: bool) -> None:
    """An item not done whose prerequisites are not all met shows what it
    waits for instead of its action: nobody can act on it yet."""
    own = [item for item in items if item.kind in ("course", "form")]
    states = {item.obj.code: (item.obj.title, item.done) for item in own}
    for item in own:
        if item.done:
            continue
        unmet = policy.unmet_waits(item.obj, approved=approved, items=states)
        if not unmet:
            continue
        item.wait_codes = [code for code, _ in unmet]
        item.waits = [label for _, label in unmet]
        item.status = "Waits for: " + ", ".join(item.waits)
        item.action_label = item.action_url = item.agency_url = item.next_role = ""


def _take(course) -> tuple[str, str, str]:
    """(status, action, link) of a course not started: a self-paced course is
    taken online, at its link when the pack gives one; the others in a session."""
    if course.delivery == course.Delivery.ONLINE:
        if course.link:
            return "Not completed yet (online, self-paced)", "Take the course online", course.link
        return "Not completed yet: take it online (self-paced), then upload its certificate", "", ""
    return "Not registered yet", "Register for a session", reverse("training:sessions") + f"?course={course.code}"


def _form_item(form, latest, owner) -> ChecklistItem:
    """A form's row: verified counts; otherwise who signed, and whose turn it
    is (seed 004: the user, then the Agency Administrator, then the Executive
    Director; or the agency files it)."""
    roles = form.signer_roles
    verb = "Sign" if form.signing == form.Signing.PORTAL else (
        "Sign or upload" if form.signing == form.Signing.EITHER else "Upload")
    filer = "" if form.filed_by == Signer.USER else Signer(form.filed_by).label
    label = f"{form.title} (filed by the agency's {filer})" if filer else f"Signed {form.title}"
    next_role, done = "", False
    if latest is None:
        status, next_role = ("Not filed yet" if filer else "Not signed yet" if verb == "Sign" else
                             "Not uploaded yet"), roles[0]
    elif latest.status == Review.VERIFIED:
        status, done = f"Verified (version {latest.version})", True
    elif latest.status == Review.RETURNED:
        status, next_role = f"Returned: {latest.reason}", roles[0]
        verb = "Upload a corrected copy" if verb == "Upload" and len(roles) == 1 else verb
    elif latest.status == Review.SIGNING and len(latest.signatures.all()) < len(roles):
        signed = len(latest.signatures.all())
        next_role = roles[signed]
        status = (f"Signed by {signed} of {len(roles)}; next: "
                  f"{'the user' if next_role == Signer.USER else Signer(next_role).label}")
    elif latest.status == Review.SIGNING:
        # The CoC changed the form's signers while it was being signed.
        status = "Signers changed while it was being signed; CoC training staff return it to start again"
    elif len(roles) > 1:
        status = f"Version {latest.version} signed by all {len(roles)}, awaiting verification"
    else:
        status = f"Version {latest.version} uploaded, awaiting verification"
    own_turn = next_role == Signer.USER
    waiting_on = ("" if done or own_turn else f"the agency's {Signer(next_role).label}" if next_role
                  else "CoC training staff, to verify it")
    url = reverse("training:form-upload", kwargs={"code": form.code})
    item = ChecklistItem("form", label, done, status, verb if own_turn else "", url if own_turn else "", form)
    item.next_role = next_role
    item.waiting_on = waiting_on
    item.template = getattr(form, "current_template", None)
    if next_role and not own_turn:
        item.agency_url = reverse("training:form-person", kwargs={"code": form.code, "user_id": owner.pk})
        item.action_label = "File" if filer and not latest else verb
    return item
