"""Who may see and do what: every rule of the portal, in one place (STYLE §4).

Views, services, selectors, the admin and templates all ask the predicates
below; none writes its own check. Three kinds of rule:

- **Agency people** act through their personas at an agency (Executive
  Director, Program Manager, Agency Administrator, staff). Anything of an
  agency a person is not a member of is a 404, never a 403: the response does
  not say the object exists. A member who lacks the persona gets a 403.
- **CoC staff** act through their CoC group: `WORK` below says which groups
  do which kind of work, and that table is the one mechanism (the Django admin
  asks it too, through `may_admin`). A CoC staff member may be limited to
  chosen agencies with django-guardian object permissions on the agency (a
  regional lead); otherwise they see every agency.
- **Separation of duties**: nobody approves their own work. CoC staff hold no
  agency memberships, nobody countersigns an agreement they submitted or for
  an agency they belong to, and nobody grants HMIS access to themselves.

The predicates take objects and read their attributes; this module imports no
later stage (SPEC §5) and names none of its models: what it needs of one (the
access policy, active HMIS accounts, the roles that work referrals) comes down
through `hmis_portal.core.registry`, provided by that stage's `ready()`; each
app declares who reads its models' history there, and each admin class the
work that may view and change its model (`view_work`, `change_work`).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django_otp import devices_for_user
from guardian.shortcuts import get_objects_for_user

from hmis_portal.core import cached, registry
from hmis_portal.core.prepared import Ask, Param, Prepared, answer

from .models import CoCGroup, Membership, Organization, Persona, User
from .signin.models import SignInPolicy

ORGANIZATION_VIEW_PERM = "accounts.view_organization"

ED, PM, AA, STAFF = (Persona.EXECUTIVE_DIRECTOR, Persona.PROGRAM_MANAGER, Persona.AGENCY_ADMINISTRATOR,
                     Persona.STAFF)
AGENCY_LEADS = (ED, PM, AA)
IMPL, TRAINING, PROVISIONING, CES, SYSADMIN = (CoCGroup.IMPLEMENTATION, CoCGroup.TRAINING, CoCGroup.PROVISIONING,
                                               CoCGroup.CES_TEAM, CoCGroup.SYSTEM_ADMIN)


class Work(Enum):
    """The kinds of work CoC staff do, each done by the groups named. Every
    CoC staff permission in the portal and the admin is one of these."""

    COUNTERSIGN = (IMPL, SYSADMIN)              # countersign or return Organization Agreements (seed 000 step 1)
    READ_AGREEMENTS = (IMPL, SYSADMIN)          # open signed agreement copies of any agency
    PROGRAM_SETUP = (IMPL, SYSADMIN)            # work the program setup queue (step 2)
    MANAGE_AGENCIES = (IMPL, SYSADMIN)          # add agencies and their people (never themselves)
    ONBOARDING_POLICY = (IMPL, SYSADMIN)        # edit the agreement term, CES organization roles, program types
    TRAINING_RECORDS = (TRAINING, SYSADMIN)     # sessions, attendance, certificates, forms, retraining
    TRAINING_POLICY = (TRAINING, SYSADMIN)      # courses, CES roles, required forms
    READ_USER_FORMS = (TRAINING, PROVISIONING, SYSADMIN)  # open users' certificates and signed forms
    USER_ACCESS = (TRAINING, PROVISIONING, SYSADMIN)      # see agencies' users and their checklists
    PROVISION = (PROVISIONING, SYSADMIN)        # grant HMIS access, process reactivations, import logins
    # Where the CoC's access policy has an approval step (seed 003: "After the
    # UAR is approved ..."): the provisioning staff who later grant access.
    APPROVE_ACCESS = (PROVISIONING, SYSADMIN)   # approve or decline new access requests
    ACCESS_POLICY = (SYSADMIN,)                 # provisioning days, inactivity thresholds
    HMIS_ACCOUNTS = (PROVISIONING, TRAINING, SYSADMIN)    # see HMIS accounts and the inactivity overview
    REFERRALS = (CES,)                          # create referrals, CES-team statuses, every agency's referrals
    REFERRAL_POLICY = (CES, SYSADMIN)           # need statuses and timeliness standards
    DATA_PARTNERSHIPS = (IMPL, SYSADMIN)        # every agency's data partnerships (MOAs), end one, entry deadlines
    SYSTEM = (SYSADMIN,)                        # holidays, the outbox, object permissions, staff accounts

    @property
    def groups(self) -> tuple[CoCGroup, ...]:
        return self.value


# --- who someone is -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Standing:
    """Who a person is at the agencies and in the CoC's groups: what every page
    of theirs asks (the menu, the home page, each predicate below)."""

    memberships: tuple  # Membership rows with their organization, by agency name
    group_names: frozenset[str]
    # CoC staff: their model permissions ("app_label.codename"), as Django's
    # ModelBackend keeps them on the user for one request (`_perm_cache`).
    permissions: frozenset[str] | None = None

    def personas_at(self, organization_id) -> set[str]:
        return {m.persona for m in self.memberships if m.organization_id == organization_id}

    def organizations(self, personas: Iterable[str] | None = None) -> list[Organization]:
        """Their agencies (holding one of `personas`), each once, by name."""
        wanted = None if personas is None else set(personas)
        found = {}
        for membership in self.memberships:
            if wanted is None or membership.persona in wanted:
                found.setdefault(membership.organization_id, membership.organization)
        return list(found.values())


def standing_cache_name(user_id) -> str:
    return f"standing:{user_id}"


def _load_standing(user) -> Standing:
    memberships = tuple(Membership.objects.filter(user_id=user.pk).select_related("organization")
                        .order_by("organization__name", "organization_id", "persona"))
    groups = frozenset(User.groups.through.objects.filter(user_id=user.pk).values_list("group__name", flat=True))
    permissions = None
    # Kept between requests, the permissions save two queries a page; read
    # anew each request (no shared cache), ModelBackend reads them when asked.
    if is_coc_staff(user) and settings.SHARED_CACHE:
        from django.contrib.auth.backends import ModelBackend

        permissions = frozenset(ModelBackend().get_all_permissions(user))
    return Standing(memberships, groups, permissions)


def standing(user) -> Standing | None:
    """The person's `Standing` within a web request: read once per request and
    kept in the cache until a membership, group or agency of theirs changes
    (accounts/receivers.py). None outside a request: callers then ask the
    database, as a task or a sweep reads what it needs once itself."""
    if not cached.in_request() or not getattr(user, "is_authenticated", False) or user.pk is None:
        return None
    known = cached.read(standing_cache_name(user.pk), lambda: _load_standing(user), depends=("people",),
                        per_person=True)
    if known.permissions is not None and not hasattr(user, "_perm_cache"):
        # Django's ModelBackend reads these instead of two queries a request.
        user._perm_cache = set(known.permissions)
    return known


def is_coc_staff(user) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_staff)


def in_coc_group(user, *groups: CoCGroup) -> bool:
    if not is_coc_staff(user):
        return False
    if user.is_superuser:
        return True
    if (known := standing(user)) is not None:
        return bool(known.group_names & {group.value for group in groups})
    # Cached on the user object for the request, as Django caches permissions
    # (`_perm_cache`): several checks on one page cost one query.
    if not hasattr(user, "_coc_group_names"):
        user._coc_group_names = set(user.groups.values_list("name", flat=True))
    return bool(user._coc_group_names & {group.value for group in groups})


def own_memberships(user):
    """The person's memberships with their agencies, by agency name."""
    if (known := standing(user)) is not None:
        return known.memberships
    return Membership.objects.filter(user=user).select_related("organization").order_by("organization__name")


def group_names(user) -> list[str]:
    """The CoC groups `user` is in, by name."""
    if (known := standing(user)) is not None:
        return sorted(known.group_names)
    return sorted(user.groups.values_list("name", flat=True))


def does(user, work: Work) -> bool:
    """CoC staff whose group does `work`."""
    return in_coc_group(user, *work.groups)


def staff_doing(work: Work) -> QuerySet:
    """Everyone who does `work` (for notifications): the one recipients rule
    for CoC staff, so an email goes exactly to those who may act on it."""
    return User.objects.filter(is_active=True, is_staff=True,
                               groups__name__in=[g.value for g in work.groups]).distinct().order_by("pk")


def provisioning_staff() -> QuerySet:
    """Who is told first of provisioning work (due today, reactivations to
    process): the provisioning group; overdue work escalates to everyone
    who may grant (`staff_doing(Work.PROVISION)`)."""
    return staff_doing(Work.PROVISION).filter(groups__name=PROVISIONING.value)


def personas_at(user, organization) -> set[str]:
    if not user.is_authenticated:
        return set()
    organization_id = getattr(organization, "pk", organization)
    # Inside a request the person's standing holds every membership; elsewhere
    # (or before it is read) a page may have remembered them (`remember_personas`).
    if (known := standing(user)) is not None:
        return known.personas_at(organization_id)
    remembered = getattr(user, "_personas_remembered", None)
    if remembered is not None and organization_id in remembered:
        return set(remembered[organization_id])
    personas = set(Membership.objects.filter(user=user, organization=organization_id)
                   .values_list("persona", flat=True))
    if remembered is not None:
        remembered[organization_id] = frozenset(personas)
    return personas


def remember_personas(user, organization=None, personas: Iterable[str] = ()) -> None:
    """For the rest of the request, `personas_at` reads `user`'s personas at
    each agency once: a page that asks several predicates of one agency (the
    participation page asks nine) costs one query, not one a predicate. Kept
    on the user object, like the CoC groups, so it ends with the request; a
    page turns it on, as nothing that changes memberships runs after it.
    A page that already read `user`'s `personas` at `organization` gives them."""
    if not user.is_authenticated:
        return
    if not hasattr(user, "_personas_remembered"):
        user._personas_remembered = {}
    if organization is not None:
        user._personas_remembered[getattr(organization, "pk", organization)] = frozenset(personas)


def has_persona(user, organization, personas: Iterable[str]) -> bool:
    return bool(personas_at(user, organization) & set(personas))


def is_member(user, organization) -> bool:
    return bool(personas_at(user, organization))


def member_organizations(user) -> QuerySet[Organization]:
    """The agencies `user` belongs to, with any persona, each once (a person
    holding two personas at an agency has two memberships there)."""
    if not user.is_authenticated:
        return Organization.objects.none()
    return Organization.objects.filter(pk__in=Membership.objects.filter(user=user).values("organization_id"))


def personas_by_organization(user) -> dict[Organization, set[str]]:
    """`personas_at` for every agency `user` belongs to, in one query."""
    if not user.is_authenticated:
        return {}
    personas: dict[Organization, set[str]] = {}
    known = standing(user)
    memberships = (known.memberships if known is not None
                   else Membership.objects.filter(user=user).select_related("organization"))
    for membership in memberships:
        personas.setdefault(membership.organization, set()).add(membership.persona)
    return personas


def is_coc_staff_account(person) -> bool:
    """A CoC staff account, active or not (`is_coc_staff` asks about someone
    acting now): it holds no agency memberships and signs no agency's forms."""
    return bool(person.is_staff)


def restrict_agency_people(queryset: QuerySet) -> QuerySet:
    """Narrow a queryset of users to agency people (never CoC staff accounts)."""
    return queryset.filter(is_staff=False)


def agency_people(organization, personas: Iterable[str] = (ED, PM, AA, STAFF)) -> QuerySet:
    """An agency's active people with one of `personas`, each once (for notifications)."""
    return User.objects.filter(is_active=True, memberships__organization=organization,
                               memberships__persona__in=list(personas)).distinct().order_by("pk")


def has_memberships(user, personas: Iterable[str] | None = None) -> bool:
    """Whether `user` belongs to any agency (with one of `personas`)."""
    if not user.is_authenticated:
        return False
    if (known := standing(user)) is not None:
        return bool(known.organizations(personas))
    memberships = Membership.objects.filter(user=user)
    return (memberships if personas is None else memberships.filter(persona__in=list(personas))).exists()


def agencies_where(user, personas: Iterable[str] | None = None) -> list[Organization]:
    """`organizations_where` as a list by name (every agency with `personas`
    None), from the person's standing when the request has read it."""
    if not user.is_authenticated:
        return []
    if (known := standing(user)) is not None:
        return known.organizations(personas)
    return list(organizations_where(user, Persona.values if personas is None else personas).order_by("name", "pk"))


def organizations_where(user, personas: Iterable[str]) -> QuerySet[Organization]:
    """The organizations at which `user` holds one of `personas`."""
    if not user.is_authenticated:
        return Organization.objects.none()
    if (known := standing(user)) is not None:
        # The request has read the person's memberships: no join on them again.
        return Organization.objects.filter(pk__in=[organization.pk for organization in known.organizations(personas)])
    return Organization.objects.filter(
        Q(memberships__user=user) & Q(memberships__persona__in=list(personas))
    ).distinct()


# --- what someone may see ----------------------------------------------------------------------

def visible_organizations(user) -> QuerySet[Organization]:
    """Organizations whose objects `user` may see."""
    if not user.is_authenticated or not user.is_active:
        return Organization.objects.none()
    if is_coc_staff(user):
        standing(user)  # the person's permissions, read once per request
        # Global view permission, or object permission on chosen agencies.
        return get_objects_for_user(user, ORGANIZATION_VIEW_PERM, klass=Organization, accept_global_perms=True)
    return Organization.objects.filter(memberships__user=user).distinct()


def sees_all_organizations(user) -> bool:
    if not is_coc_staff(user):
        return False
    standing(user)  # the person's permissions, read once per request
    return user.has_perm(ORGANIZATION_VIEW_PERM)


def seen_among(user, organization_ids: Iterable[int]) -> set[int]:
    """Those of the agencies `organization_ids` whose objects `user` may see
    (`visible_organizations`), for a list that links only those: all of them
    for CoC staff who see every agency and an agency person's own from their
    standing, neither a query; CoC staff with permission on chosen agencies
    are asked the database."""
    organization_ids = set(organization_ids)
    if not organization_ids or not user.is_authenticated or not user.is_active:
        return set()
    if sees_all_organizations(user):
        return organization_ids
    if not is_coc_staff(user):
        return organization_ids & _member_organization_ids(user)
    return set(visible_organizations(user).filter(pk__in=organization_ids).values_list("pk", flat=True))


def restrict(queryset: QuerySet, user, organization_field: str = "organization") -> QuerySet:
    """Narrow `queryset` to objects of organizations `user` may see."""
    if sees_all_organizations(user):
        return queryset
    return queryset.filter(**{f"{organization_field}__in": visible_organizations(user).values("pk")})


def access_organization(user, slug: str, personas: Iterable[str] | None = None) -> Organization:
    """The organization `slug` if `user` may see it (404 otherwise), and, when
    `personas` is given, holds one of them there (403 otherwise)."""
    organization = get_object_or_404(visible_organizations(user), slug=slug)
    if personas is not None:
        require_persona(user, organization, personas)
    return organization


def require(allowed: bool, message: str) -> None:
    """403 with `message` unless `allowed`: how views and services apply a predicate."""
    if not allowed:
        raise PermissionDenied(message)


def require_persona(user, organization, personas: Iterable[str], action: str = "do this") -> None:
    """403 unless `user` holds one of `personas` at `organization`."""
    personas = list(personas)
    labels = " or ".join(Persona(p).label for p in personas)
    require(has_persona(user, organization, personas), f"Only the agency's {labels} may {action}.")


# --- step 1: the Organization Agreement ---------------------------------------------------------

def can_sign_agreement(user, organization) -> bool:
    """Seed 000: the Executive Director or Authorized Representative signs and uploads it."""
    return has_persona(user, organization, [ED])


def can_download_agreement_template(user) -> bool:
    """The blank Organization Agreement is never public: Executive Directors
    (who sign it) and the CoC staff who set it or countersign it."""
    if not user.is_authenticated or not user.is_active:
        return False
    if is_coc_staff(user):
        return does(user, Work.COUNTERSIGN) or does(user, Work.ONBOARDING_POLICY)
    return has_memberships(user, [ED])


def can_manage_agreement_templates(user) -> bool:
    return does(user, Work.ONBOARDING_POLICY)


def can_read_agreements(user, organization) -> bool:
    """Signed agreement copies: the agency's leads, and the CoC staff who countersign."""
    return has_persona(user, organization, AGENCY_LEADS) or does(user, Work.READ_AGREEMENTS)


def countersign_refusal(user, agreement) -> str:
    """Why `user` may not countersign or return `agreement` ('' when they may)."""
    if not does(user, Work.COUNTERSIGN):
        return "Only the CoC's implementation team and system administrators countersign agreements."
    if agreement.submitted_by_id == user.pk or any(
            copy.uploaded_by_id == user.pk for copy in agreement.copies.all()):
        return "You submitted this agreement; another CoC staff member must countersign it."
    if is_member(user, agreement.organization_id):
        return "You belong to this agency; a CoC staff member outside it must countersign its agreement."
    return ""


def can_countersign(user, agreement) -> bool:
    return not countersign_refusal(user, agreement)


def can_terminate_agreement(user, agreement) -> bool:
    """Ending an agency's agreement before its term is the countersigners'
    decision (they made it executed), never one of the agency's own."""
    return does(user, Work.COUNTERSIGN) and not is_member(user, agreement.organization_id)


# --- step 2: program setup ----------------------------------------------------------------------

def can_manage_programs(user, organization) -> bool:
    """Seed 000: the Program Manager names the CES roles, requests and confirms setup."""
    return has_persona(user, organization, [PM])


def can_work_program_setup(user) -> bool:
    return does(user, Work.PROGRAM_SETUP)


def can_work_onboarding_queue(user) -> bool:
    return does(user, Work.COUNTERSIGN) or does(user, Work.PROGRAM_SETUP)


# --- step 3: users, training, forms, HMIS access -----------------------------------------------

def access_requesters() -> list[str]:
    """The agency personas who may ask for a person's HMIS access: the CoC's
    access policy (seed 000 step 3.1: the Program Manager or Agency
    Administrator; seed 003: the Authorized Representative). HMIS access, a
    later stage, provides its policy row through the registry."""
    return registry.access_policy().requester_personas


def access_requests_need_approval() -> bool:
    """Whether the CoC's staff approve new access requests (seed 003), read like `access_requesters`."""
    return registry.access_policy().access_requests_need_approval


def persona_labels(personas: Iterable[str]) -> str:
    """"Program Manager or Agency Administrator", for messages a person reads."""
    return " or ".join(Persona(p).label for p in personas) or "nobody (the CoC's access policy names no one)"


def can_identify_users(user, organization, personas: Iterable[str] | None = None) -> bool:
    """Ask for a person's HMIS access: the personas of the CoC's access policy
    (`personas` when the caller already read them)."""
    return has_persona(user, organization, access_requesters() if personas is None else personas)


def _member_organization_ids(user) -> set[int]:
    # Cached on the user object for the request, like the CoC groups: a
    # queue of requests asks it once, not once a row.
    if (known := standing(user)) is not None:
        return {membership.organization_id for membership in known.memberships}
    if not hasattr(user, "_member_organization_ids"):
        user._member_organization_ids = set(Membership.objects.filter(user=user).values_list("organization_id",
                                                                                             flat=True))
    return user._member_organization_ids


def approval_refusal(user, access_request) -> str:
    """Why `user` may not approve or decline `access_request` ('' when they
    may). Nobody approves their own work: not a request they made, nor one of
    their own agency, nor their own access."""
    if not does(user, Work.APPROVE_ACCESS):
        return "Only the CoC's provisioning staff and system administrators approve access requests."
    if access_request.user_id == user.pk:
        return "Nobody approves their own access request; another CoC staff member must."
    if access_request.requested_by_id == user.pk:
        return "You asked for this access; another CoC staff member must approve it."
    if access_request.organization_id in _member_organization_ids(user):
        return "You belong to this agency; a CoC staff member outside it must approve its access requests."
    return ""


def can_approve_access(user, access_request) -> bool:
    return not approval_refusal(user, access_request)


def can_work_access_approvals(user) -> bool:
    """The queue of access requests awaiting the CoC's approval."""
    return does(user, Work.APPROVE_ACCESS)


def can_see_user_access(user, organization) -> bool:
    return has_persona(user, organization, AGENCY_LEADS) or does(user, Work.USER_ACCESS)


def can_read_user_document(user, owner, organization_ids: Iterable[int]) -> bool:
    """A person's certificates and signed forms: the person, the leads of an
    agency they belong to, and the CoC staff who verify or provision."""
    if user.pk == owner.pk:
        return True
    if is_coc_staff(user):
        return does(user, Work.READ_USER_FORMS)
    return any(has_persona(user, organization_id, AGENCY_LEADS) for organization_id in organization_ids)


def require_person_readable(user, owner) -> None:
    """Before showing `owner`'s certificates or forms: someone who cannot see
    any of the owner's agencies gets a 404 (the document's existence is not
    told); then `can_read_user_document` or a 403."""
    if owner.pk == user.pk:
        return
    organization_ids = list(Membership.objects.filter(user=owner).values_list("organization_id", flat=True))
    if not is_coc_staff(user) and not restrict(Organization.objects.filter(pk__in=organization_ids), user,
                                               organization_field="pk").exists():
        raise Http404("No document")
    require(can_read_user_document(user, owner, organization_ids),
            "Only the person, their agency's leads and the CoC's training and provisioning staff open this document.")


# A user's forms are signed in order by roles (training.models.Signer): the
# user themself ("user"), or a persona of the user's agency (seed 004: the
# Agency Administrator and the Executive Director sign the User Agreement
# after the user; the Agency Administrator files the User Request Form).
USER_SIGNER = "user"


def _role_label(role: str) -> str:
    return "the user" if role == USER_SIGNER else f"the agency's {Persona(role).label}"


def form_signer_refusal(actor, owner, role: str) -> str:
    """Why `actor` may not sign (or file) `owner`'s form as `role` ('' when
    they may). Nobody signs in another's place: the user's place is the
    user's own; an agency place is for a member of one of the user's agencies
    holding that persona, and never the user themself."""
    if not actor.is_authenticated or is_coc_staff(actor):
        return "CoC staff do not sign users' forms; they verify them."
    if role == USER_SIGNER:
        if actor.pk != owner.pk:
            return f"Only {owner} signs here as the user; nobody signs in another's place."
        return ""
    if actor.pk == owner.pk:
        return f"This place is for {_role_label(role)}; nobody signs their own form for their agency."
    if not _agency_signers(owner, role).filter(pk=actor.pk).exists():
        return f"Only {_role_label(role)} of {owner}'s agency signs here."
    return ""


def _agency_signers(owner, role: str) -> QuerySet:
    # People holding `role` at one of `owner`'s agencies (one membership
    # matching both), never `owner`: an agency place of `owner`'s forms.
    return User.objects.filter(
        memberships__persona=role,
        memberships__organization__in=Membership.objects.filter(user=owner).values("organization_id"),
    ).exclude(pk=owner.pk)


def form_signers(owner, role: str) -> list:
    """Who signs `owner`'s form in `role`'s place (told when it is their
    turn): the user, or the active agency people `form_signer_refusal` lets
    sign there."""
    if role == USER_SIGNER:
        return [owner]
    return list(restrict_agency_people(_agency_signers(owner, role).filter(is_active=True))
                .distinct().order_by("pk"))


def can_sign_form_as(actor, owner, role: str) -> bool:
    return not form_signer_refusal(actor, owner, role)


def signs_next(actor, owner, role: str) -> bool:
    """Whether `actor`, active, signs `owner`'s form when `role`'s place is next (told on their home page)."""
    return bool(getattr(actor, "is_active", False)) and can_sign_form_as(actor, owner, role)


def signing_places(user) -> dict[str, set[int]]:
    """The agency places of users' forms `user` signs, for their home page:
    each agency persona they hold, with the agencies where they hold it (read
    from their standing once, whatever the number of forms). The rule is
    `form_signer_refusal`'s; `signs_in_place` applies it to one form."""
    if not user.is_authenticated or not user.is_active or is_coc_staff(user):
        return {}
    known = standing(user)
    memberships = known.memberships if known is not None else Membership.objects.filter(user=user)
    places = {}
    for membership in memberships:
        places.setdefault(membership.persona, set()).add(membership.organization_id)
    return places


def members_of(organization_ids) -> QuerySet:
    """The ids of the people of these agencies (a subquery)."""
    return Membership.objects.filter(organization_id__in=list(organization_ids)).values("user_id")


def agencies_of(user_ids, organization_ids) -> dict[int, set[int]]:
    """For each of these people, which of these agencies they belong to (one query)."""
    found: dict[int, set[int]] = {}
    rows = Membership.objects.filter(user_id__in=list(user_ids), organization_id__in=list(organization_ids))
    for user_id, organization_id in rows.values_list("user_id", "organization_id"):
        found.setdefault(user_id, set()).add(organization_id)
    return found


def signs_in_place(places: dict[str, set[int]], user, owner_id: int, owner_organization_ids, role: str) -> bool:
    """`form_signer_refusal` on rows already read: `role`'s place of the form
    of the user `owner_id` (a member of `owner_organization_ids`) is for
    `user`, whose `signing_places` are `places`. Never the user's own place,
    nor an agency place of their own form."""
    if role == USER_SIGNER:
        return user.pk == owner_id
    return user.pk != owner_id and bool(places.get(role, set()) & set(owner_organization_ids))


def can_download_form_template(user, roles: Iterable[str]) -> bool:
    """A form's blank versions are never public: the CoC staff who set the
    forms or read users' forms, and signed-in agency people who may have to
    sign it (an agency's people sign as the user; a persona named among its
    signers signs for the agency)."""
    if not user.is_authenticated or not user.is_active:
        return False
    if is_coc_staff(user):
        return does(user, Work.TRAINING_POLICY) or does(user, Work.READ_USER_FORMS)
    roles = set(roles)
    if USER_SIGNER in roles and user.memberships.exists():
        return True
    return user.memberships.filter(persona__in=list(roles - {USER_SIGNER})).exists()


def can_manage_form_templates(user) -> bool:
    """Uploading a new blank version of a form is training policy."""
    return does(user, Work.TRAINING_POLICY)


def can_review_training(user) -> bool:
    return does(user, Work.TRAINING_RECORDS)


def can_register_for_training(user) -> bool:
    return user.is_authenticated and not is_coc_staff(user)


def training_order_refusal(actor, person, item=None, *, waits_for_approval: bool | None = None) -> str:
    """Why work on `person`'s `item` (a course: registering for a session,
    uploading a certificate; a form: signing or filing it) may not start yet
    ('' when it may), by the CoC's policy pack: the item's `waits_for`.

    - "approval": where the CoC's access policy has an approval step, the item
      comes after it (seed 003: "After the UAR is approved, the new End User
      will receive notification ... to submit the User Policy form, complete
      the trainings"); HMIS access provides where the person stands.
    - other courses and forms of the person's checklist (seed 000: the HMIS 10
      Acknowledgement "upon completion of HMIS 10"): each must be done first.

    Without an item (a page of every course), `waits_for_approval` says
    whether the courses wait for approval. `actor` is who is acting (the
    person, or an agency signer of the person's form): the message speaks to them."""
    approval = "approval" in (item.waits_for or ()) if item is not None else bool(waits_for_approval)
    own = actor is not None and actor.pk == person.pk
    your, you = ("your", "you") if own else (f"{person}'s", str(person))
    if approval and access_requests_need_approval():
        stage = registry.approval_stage(person)
        if stage == registry.AWAITING:
            return (f"CoC staff have not approved {your} HMIS access request yet; trainings and forms start after "
                    "they do. Nothing was saved.")
        who = persona_labels(access_requesters())
        if stage == registry.DECLINED:
            return (f"CoC staff declined {your} HMIS access request; trainings and forms start after they approve a "
                    f"new one, which the agency's {who} asks for. Nothing was saved.")
        if stage != registry.APPROVED:
            return (f"Trainings and forms start after CoC staff approve an HMIS access request for {you}; the "
                    f"agency's {who} asks for it. Nothing was saved.")
    if item is not None and any(code != "approval" for code in item.waits_for or ()):
        unmet = registry.unmet_prerequisites(person, item)
        if unmet:
            return (f"{item.title} waits for {', '.join(unmet)}: it starts once "
                    f"{'that is' if len(unmet) == 1 else 'those are'} complete. Nothing was saved.")
    return ""


def grant_refusal(user, access_request) -> str:
    if not does(user, Work.PROVISION):
        return "Only CoC provisioning staff and system administrators grant HMIS access."
    if access_request.user_id == user.pk:
        return "Nobody grants HMIS access to themselves; another provisioning staff member must."
    return ""


def can_grant(user, access_request) -> bool:
    return not grant_refusal(user, access_request)


def can_provision(user) -> bool:
    return does(user, Work.PROVISION)


def can_retry_hmis_provisioning(user) -> bool:
    """"Retry" a command the HMIS refused or never took, and see the
    provisioning staff's page of accounts not yet in the HMIS: those who may
    provision (grants happen in the HMIS through them)."""
    return can_provision(user)


def can_see_hmis_provisioning(user) -> bool:
    """The page of accounts pending, failed or drifted in the HMIS: those who
    may provision, who act on it."""
    return can_provision(user)


def can_see_unknown_hmis_users(user) -> bool:
    """Users active in the HMIS whom the portal does not know belong to no
    agency: only provisioning staff who see every agency read their names."""
    return can_provision(user) and sees_all_organizations(user)


def can_test_hmis_connection(user) -> bool:
    """The HMIS provisioning target is the system admins' configuration; its
    "Test connection" is theirs too."""
    return does(user, Work.SYSTEM)


def can_see_hmis_accounts(user, organization=None) -> bool:
    if organization is None:
        return does(user, Work.HMIS_ACCOUNTS)
    return has_persona(user, organization, AGENCY_LEADS) or does(user, Work.HMIS_ACCOUNTS)


def _restrict_agency_work(queryset: QuerySet, user, work: "Work", organization_field: str,
                          own_field: str | None) -> QuerySet:
    """Rows of agencies' work as their pages show them: CoC staff who do
    `work`, of the agencies they may see; an agency's leads, their agency's;
    anyone, their own (through `own_field`)."""
    if not user.is_authenticated or not user.is_active:
        return queryset.none()
    if does(user, work):
        return restrict(queryset, user, organization_field=organization_field)
    seen = Q(**{f"{organization_field}__in": organizations_where(user, AGENCY_LEADS).values("pk")})
    if own_field is not None:
        seen |= Q(**{own_field: user})
    return queryset.filter(seen)


def restrict_user_access(queryset: QuerySet, user, organization_field: str = "organization",
                         own_field: str | None = "user") -> QuerySet:
    """Access requests `user` may read (`can_see_user_access`, and a person's own)."""
    return _restrict_agency_work(queryset, user, Work.USER_ACCESS, organization_field, own_field)


def restrict_hmis_accounts(queryset: QuerySet, user, organization_field: str = "organization",
                           own_field: str | None = "user") -> QuerySet:
    """HMIS accounts `user` may read (`can_see_hmis_accounts`, and a person's own)."""
    return _restrict_agency_work(queryset, user, Work.HMIS_ACCOUNTS, organization_field, own_field)


def can_request_reactivation(user, account) -> bool:
    """Seed 002: the agency administrator asks for reactivation, or the user."""
    return account.user_id == user.pk or has_persona(user, account.organization_id, [AA])


def can_record_retraining(user) -> bool:
    return does(user, Work.TRAINING_RECORDS)


# --- CES referrals (seed 001) --------------------------------------------------------------------

# Personas who oversee their agency's referrals by the numbers: their home
# page says how many of its programs have overdue referrals. Counts only: the
# persona alone opens no client's referral (SPEC §4, "Who sees client data").
REFERRAL_LEADS = (PM,)


def referral_hmis_roles() -> set[str]:
    """HMIS roles that work referrals: those of the CoC's CES roles marked so
    (policy rows in training, which provides them through the registry)."""
    return set(registry.referral_hmis_roles())


def _referral_accounts() -> QuerySet:
    """Active HMIS accounts with a role that works referrals (HMIS access
    provides its active accounts, training the roles, through the registry)."""
    return registry.active_hmis_accounts().filter(hmis_role__in=registry.referral_hmis_roles())


def referral_agencies(user) -> QuerySet[Organization]:
    """The agencies whose referrals' client data (HMIS client IDs, contact
    details, notes) `user` may see and work (SPEC §4, "Who sees client
    data"): the CES team, every agency it may see (CoC staff are signed in
    with two factors, always); an agency's person only the agency where they
    hold granted, active HMIS access with a role that works referrals, and
    only while they are still a member there. No persona opens it alone: a
    Program Manager or Executive Director without such access sees the
    agency's counts, statuses and deadlines (`can_see_referral_counts`)."""
    if not user.is_authenticated or not user.is_active:
        return Organization.objects.none()
    if does(user, Work.REFERRALS):
        return restrict(Organization.objects.all(), user, organization_field="pk")
    if is_coc_staff(user):
        return Organization.objects.none()
    # The agency of the person's own account, while they are a member there.
    if standing(user) is not None:
        # Their agencies as the request already read them: no join on memberships.
        return Organization.objects.filter(pk__in=_referral_accounts().filter(
            user=user, organization_id__in=_member_organization_ids(user)).values("organization_id"))
    return Organization.objects.filter(pk__in=_referral_accounts().filter(user=user).values("organization_id"),
                                       memberships__user=user).distinct()


def own_active_access(user) -> Ask | tuple[frozenset[int], frozenset[int]]:
    """(agencies where `user` holds granted, active HMIS access while still a
    member there, those of them where its role works referrals): one query,
    read once a request by the home page's to-dos (`referral_agency_ids`,
    `intake_entry_agency_ids`), which change no account. The question, for
    the to-dos to ask with their counts (`prepared.answer_all`), or its answer
    once the request has it."""
    if not user.is_authenticated or not user.is_active or is_coc_staff(user):
        return frozenset(), frozenset()
    memo = getattr(user, "_own_active_access", None)
    if memo is not None:
        return memo

    def keep(rows):
        user._own_active_access = (frozenset(row["organization_id"] for row in rows),
                                   frozenset(row["organization_id"] for row in rows if row["refers"]))
        return user._own_active_access

    return _OWN_ACTIVE_ACCESS.ask(user=user.pk, organizations=list(_member_organization_ids(user))).then(keep)


def _own_active_access(user) -> tuple[frozenset[int], frozenset[int]]:
    return answer(own_active_access(user))


# Built at the first home page, once the later stages have provided the
# active HMIS accounts and the roles that work referrals.
_OWN_ACTIVE_ACCESS = Prepared(lambda: (
    registry.active_hmis_accounts()
    .filter(user_id=Param("user"), organization_id__in=Param("organizations", many=True))
    .annotate(refers=Q(hmis_role__in=registry.referral_hmis_roles())).values("organization_id", "refers").order_by()))


def referral_agency_ids(user) -> frozenset[int]:
    """`referral_agencies` as ids, for an agency person (not the CES team):
    read with `intake_entry_agency_ids` in one query a request."""
    if does(user, Work.REFERRALS):
        raise ValueError("the CES team's referral agencies are every agency it may see: use referral_agencies")
    return _own_active_access(user)[1]


def sees_client_data(user, organization=None) -> bool:
    """May `user` read referrals' client data at `organization` (at any agency
    when None)? The one rule the referral list, the referral's page, the
    exports and any API of referrals ask (through `restrict_client_data`)."""
    if organization is None:
        if does(user, Work.REFERRALS):
            return True
        if standing(user) is not None:
            # Within a request, the agencies as the home page's to-dos read
            # them (one prepared query a request), not a queryset built anew.
            return bool(referral_agency_ids(user))
        return referral_agencies(user).exists()
    return referral_agencies(user).filter(pk=getattr(organization, "pk", organization)).exists()


def restrict_client_data(queryset: QuerySet, user, organization_field: str = "program__organization") -> QuerySet:
    """Narrow a queryset of referrals (or rows carrying their client data) to
    those whose client data `user` may see (`referral_agencies`)."""
    if does(user, Work.REFERRALS):
        return restrict(queryset, user, organization_field=organization_field)
    return queryset.filter(**{f"{organization_field}__in": referral_agencies(user)})


def referral_lead_agencies(user) -> QuerySet[Organization]:
    """The agencies whose referrals `user` oversees by the numbers (a
    `REFERRAL_LEADS` persona there), client data or not."""
    if is_coc_staff(user) or not user.is_authenticated or not user.is_active:
        return Organization.objects.none()
    return organizations_where(user, REFERRAL_LEADS)


def referral_lead_agency_ids(user) -> list[int]:
    """`referral_lead_agencies` as ids (from the person's standing, no query
    inside a request)."""
    if is_coc_staff(user) or not user.is_authenticated or not user.is_active:
        return []
    return [organization.pk for organization in agencies_where(user, REFERRAL_LEADS)]


def works_referrals(user, organization) -> bool:
    """The provider side: someone of `organization` who works its referrals
    (the CES team sees them too, but does not act as the provider)."""
    if is_coc_staff(user):
        return False
    return sees_client_data(user, organization)


def referral_workers(organization_ids: Iterable[int]) -> list[tuple[int, int, str]]:
    """(agency id, user id, email) of everyone who works the referrals of these
    agencies, each once: who is told of a new or overdue referral (the same
    people who may open it). One query whatever the number of agencies."""
    organization_ids = list(organization_ids)
    rows = set(_referral_accounts().filter(
        organization_id__in=organization_ids, user__is_active=True, user__is_staff=False,
        user__memberships__organization_id=F("organization_id"),
    ).values_list("organization_id", "user_id", "user__email"))
    return sorted(rows)


def referral_count_agencies(user) -> list[int] | None:
    """The agencies whose referrals `user` counts (`can_see_referral_counts`:
    counts, no client data), as ids, None for every agency: the CES team the
    agencies it may see (those whose client data it sees too,
    `restrict_client_data`), a provider agency's member the agencies they
    belong to (from their standing when the request has read it, so the
    counts report narrows without a query), anyone else none."""
    if does(user, Work.REFERRALS):
        return None if sees_all_organizations(user) else list(visible_organizations(user).values_list("pk", flat=True))
    if is_coc_staff(user) or not user.is_authenticated:
        return []
    if (known := standing(user)) is not None:
        return sorted({membership.organization_id for membership in known.memberships})
    return list(member_organizations(user).values_list("pk", flat=True))


def can_see_referral_counts(user, organization=None) -> bool:
    """Counts without client data: any member of a provider agency, and the CES team."""
    if does(user, Work.REFERRALS):
        return True
    if is_coc_staff(user) or not user.is_authenticated:
        return False
    return is_member(user, organization) if organization is not None else has_memberships(user)


def can_work_referral(user, referral) -> bool:
    """Act as the housing provider on a referral: move its need status, record
    enrollment and move-in, ask for a transfer."""
    return works_referrals(user, referral.program.organization_id)


def can_match(user) -> bool:
    """Create referrals, re-refer, set CES-team-only statuses, see every
    agency's overdue list and the export: the CES team."""
    return does(user, Work.REFERRALS)


def can_record_ce_enrollment(user) -> bool:
    """Record the client's Coordinated Entry enrollment ID in the HMIS on a
    referral (what HUD's Event.csv reports it under): the CES team, who
    enrolled the client in the CE project."""
    return can_match(user)


# --- data partnerships (seed 003, step 3) -------------------------------------------------------
#
# An agency that does not use HMIS signs an MOA with a partner agency that
# enters its Coordinated Entry intakes into HMIS on its behalf. Both agencies'
# people see the partnership; the implementation team sees every one.

def sees_every_partnership(user) -> bool:
    return does(user, Work.DATA_PARTNERSHIPS)


def can_see_partnerships(user, *, organizations=None) -> bool:
    """The data partnerships page: the CoC staff who look after them, and any
    agency member. `organizations`: the person's agencies when already read
    (the menu has them), saving a query on every page."""
    if sees_every_partnership(user):
        return True
    if is_coc_staff(user) or not user.is_authenticated:
        return False
    return bool(organizations) if organizations is not None else has_memberships(user)


def can_see_agency_partnerships(user, organization) -> bool:
    return sees_every_partnership(user) or (not is_coc_staff(user) and is_member(user, organization))


def can_see_partnership(user, partnership) -> bool:
    """A partnership, its intake batches and its timeliness: the people of
    either agency, and the CoC staff who look after partnerships."""
    if sees_every_partnership(user):
        return True
    if is_coc_staff(user):
        return False
    return is_member(user, partnership.agency_id) or is_member(user, partnership.partner_id)


def can_propose_partnership(user, organization) -> bool:
    """The agency's Executive Director signs the MOA and proposes the partnership."""
    return has_persona(user, organization, [ED])


def partnership_decision_refusal(user, partnership) -> str:
    """Why `user` may not accept or decline `partnership` ('' when they may)."""
    if not has_persona(user, partnership.partner_id, [ED]):
        return "Only the partner agency's Executive Director accepts or declines a data partnership."
    if partnership.proposed_by_id == user.pk:
        return "You proposed this partnership; the partner agency's Executive Director must decide on it."
    return ""


def can_decide_partnership(user, partnership) -> bool:
    return not partnership_decision_refusal(user, partnership)


def can_end_partnership(user, partnership) -> bool:
    """Either agency's Executive Director, or the CoC staff who look after partnerships."""
    return (sees_every_partnership(user) or has_persona(user, partnership.agency_id, [ED])
            or has_persona(user, partnership.partner_id, [ED]))


def can_read_moa(user, partnership) -> bool:
    """The signed MOA: the leads of either agency and the CoC staff who look after partnerships."""
    return (sees_every_partnership(user) or has_persona(user, partnership.agency_id, AGENCY_LEADS)
            or has_persona(user, partnership.partner_id, AGENCY_LEADS))


def can_send_intakes(user, partnership) -> bool:
    """Record that a batch of intakes went to the partner: the non-HMIS agency's people."""
    return not is_coc_staff(user) and is_member(user, partnership.agency_id)


def can_record_entry(user, partnership) -> bool:
    """Record that a batch was entered into HMIS: the partner agency's people."""
    return not is_coc_staff(user) and is_member(user, partnership.partner_id)


def partnership_deciders(partnership) -> QuerySet:
    """Who is told of a proposal: whoever may accept or decline it."""
    return agency_people(partnership.partner_id, [ED]).exclude(pk=partnership.proposed_by_id)


def partnership_directors(partnership) -> QuerySet:
    """Both agencies' Executive Directors (an answer, an end)."""
    return User.objects.filter(is_active=True, memberships__organization_id__in=[partnership.agency_id,
                                                                                 partnership.partner_id],
                               memberships__persona=ED).distinct().order_by("pk")


def intake_entry_agency_ids(user) -> frozenset[int]:
    """The agencies whose partners' intake batches `user` enters into HMIS:
    where they hold granted, active HMIS access and are still a member (read
    with `referral_agency_ids` in one query a request). Staff without an
    account, an Inactive account and new users wait for access; they enter
    nothing."""
    return _own_active_access(user)[0]


def intake_enterers(organization_ids: Iterable[int]) -> dict[int, list]:
    """For each partner agency, its active people who enter its partners'
    intakes into HMIS (told of a new or overdue batch): those holding granted,
    active HMIS access there (`intake_entry_agency_ids`). One query."""
    people: dict[int, list] = {pk: [] for pk in organization_ids}
    access = registry.active_hmis_accounts().filter(user_id=OuterRef("user_id"),
                                                    organization_id=OuterRef("organization_id"))
    rows = (Membership.objects.filter(Exists(access), organization_id__in=list(people), user__is_active=True,
                                      user__is_staff=False)
            .select_related("user").order_by("organization_id", "user_id"))
    seen = set()
    for membership in rows:
        # One message per person per agency, however many personas they hold there.
        if (membership.organization_id, membership.user_id) not in seen:
            seen.add((membership.organization_id, membership.user_id))
            people[membership.organization_id].append(membership.user)
    return people


# --- finding agencies and people ----------------------------------------------------------------

def can_search_agencies(user) -> bool:
    """CoC staff look agencies and their people up across the CoC (each
    only among the agencies they may see)."""
    return is_coc_staff(user)


# --- people and memberships --------------------------------------------------------------------

def membership_refusal(actor, organization, person) -> str:
    """Why `actor` may not add or remove `person`'s membership at `organization`."""
    if is_coc_staff_account(person):
        return "CoC staff hold no agency memberships (nobody approves their own agency's work)."
    if actor.pk == person.pk and is_coc_staff(actor):
        return "Nobody gives themselves an agency membership."
    return _people_manager_refusal(actor, organization)


def _people_manager_refusal(actor, organization) -> str:
    if does(actor, Work.MANAGE_AGENCIES) or has_persona(actor, organization, [PM, AA]):
        return ""
    return "Only the CoC's implementation team, or the agency's Program Manager or Agency Administrator, manage its people."


def membership_removal_refusal(actor, membership) -> str:
    """Why `actor` may not remove `membership` ('' when they may). A CoC
    staff member's membership (which the services never add) may go, but
    only by those who manage the agency's people."""
    if is_coc_staff_account(membership.user):
        return _people_manager_refusal(actor, membership.organization_id)
    return membership_refusal(actor, membership.organization_id, membership.user)


def can_manage_memberships(user) -> bool:
    """Every agency's people, in the admin: the implementation team."""
    return does(user, Work.MANAGE_AGENCIES)


def can_manage_staff_accounts(user) -> bool:
    """CoC staff accounts, their groups and permissions: system admins alone."""
    return does(user, Work.SYSTEM)


def restrict_admin_users(queryset: QuerySet, user) -> QuerySet:
    """The people `user` looks after in the admin: the implementation team,
    agency people; system admins, CoC staff too."""
    return queryset if can_manage_staff_accounts(user) else restrict_agency_people(queryset)


# --- invitations and joining (seed 000: an agency and its leads come in without a superuser) ----------

# The personas an agency's Program Manager or Agency Administrator may invite
# to their own agency; the implementation team may invite any persona.
AGENCY_INVITABLE = (STAFF, AA)


def invitable_personas(actor, organization) -> list[str]:
    """The personas `actor` may invite someone to at `organization`."""
    if does(actor, Work.MANAGE_AGENCIES):
        return list(Persona.values)
    if is_coc_staff(actor):
        return []
    if has_persona(actor, organization, [PM, AA]):
        return [p.value for p in AGENCY_INVITABLE]
    return []


def can_invite(actor, organization) -> bool:
    return bool(invitable_personas(actor, organization))


COC_STAFF_ADDRESS = "That address belongs to CoC staff, who hold no agency memberships."


def invitation_refusal(actor, organization, persona: str, email: str) -> str:
    """Why `actor` may not invite `email` as `persona` at `organization` ('' when they may)."""
    if User.objects.filter(email__iexact=email, is_staff=True).exists():
        return COC_STAFF_ADDRESS
    allowed = invitable_personas(actor, organization)
    if not allowed:
        return "Only the CoC's implementation team, or the agency's Program Manager or Agency Administrator, " \
               "invite its people."
    if persona not in allowed:
        return f"You may invite {' or '.join(Persona(p).label for p in allowed)} only; the CoC's " \
               "implementation team invites the agency's other leads."
    return ""


def invitee_refusal(person) -> str:
    """Why the account `person` (of the invited address) may not accept an invitation ('' when it may)."""
    return COC_STAFF_ADDRESS if person is not None and is_coc_staff_account(person) else ""


def restrict_invitations(queryset: QuerySet, actor, organization) -> QuerySet:
    """The invitations of `organization` that `actor` may resend or revoke:
    those of the personas they may invite."""
    return queryset.filter(persona__in=invitable_personas(actor, organization))


def can_manage_invitation(actor, invitation) -> bool:
    """Resend or revoke: whoever may send that invitation now."""
    return not invitation_refusal(actor, invitation.organization, invitation.persona, invitation.email)


def can_accept_join_requests(user) -> bool:
    """Accept or decline an organization's request to join: the implementation team."""
    return does(user, Work.MANAGE_AGENCIES)


# --- signing in ----------------------------------------------------------------------------------

def has_two_factor_device(user) -> bool:
    return any(True for _ in devices_for_user(user, confirmed=True))


def second_factor_always(user) -> bool:
    """CoC staff reach every agency's documents and client referrals: they owe
    a second factor always, whatever the policy or the session recorded."""
    return bool(user.is_authenticated and is_coc_staff_account(user))


def two_factor_required(user, policy: SignInPolicy | None = None) -> bool:
    """CoC staff reach every agency's documents and client referrals: always.
    Agency users: when the CoC's policy says so, or once they turned it on."""
    if not user.is_authenticated:
        return False
    if second_factor_always(user):
        return True
    policy = policy or SignInPolicy.current()
    return policy.require_two_factor_for_agency_users or has_two_factor_device(user)


def two_factor_optional(user, policy: SignInPolicy | None = None) -> bool:
    """May this person turn the second factor off again?"""
    policy = policy or SignInPolicy.current()
    return not (user.is_staff or policy.require_two_factor_for_agency_users)



# --- Sign-in with the CoC's identity provider (OpenID Connect) ------------------------------------


def may_sign_in_with_provider(user) -> bool:
    """Who may sign in through the CoC's identity provider: an existing, active
    portal user (CoC staff, or agency people who were invited). The provider
    vouches for the email address; it never makes anyone a portal user."""
    return bool(user is not None and user.pk and user.is_active)


# What makes a new account a CoC staff account (the flag the predicates above read).
COC_STAFF_ACCOUNT = {"is_staff": True}


def provider_may_create_staff(email: str, domain: str) -> bool:
    """When the CoC turned it on (a domain configured), a verified address of
    the CoC's own email domain may open a CoC staff account, with no group
    until a system admin assigns one. Off (no domain): nobody is created."""
    domain = (domain or "").strip().lower().lstrip("@")
    return bool(domain) and email.lower().rpartition("@")[2] == domain


def provider_second_factor(claims: dict, *, amr_values, acr_values) -> bool:
    """Did the provider's token say it asked for a second factor the CoC
    accepts (its `amr` methods or its `acr` level)? Then the portal does not
    ask for its own code again; otherwise it asks as after a password."""
    amr = claims.get("amr") or []
    if isinstance(amr, str):
        amr = [amr]
    accepted_amr = {value.strip() for value in amr_values if value.strip()}
    accepted_acr = {value.strip() for value in acr_values if value.strip()}
    return bool(accepted_amr.intersection(str(value) for value in amr)) or (
        bool(accepted_acr) and str(claims.get("acr") or "") in accepted_acr)

# --- API keys ----------------------------------------------------------------------------------
#
# A key acts as the person who owns it and never reaches more than they may
# in the browser: every endpoint asks these same predicates of the owner.

READ_SCOPE = "read"


def api_key_refusal(actor, owner, scopes: Iterable[str]) -> str:
    """Why `actor` may not make (or rotate) a key of `owner` with `scopes`
    ('' when they may). System administrators make keys for the HMIS vendor
    or a CoC's script; a person may make a read key for themselves."""
    if not owner.is_active:
        return f"{owner} is deactivated; a key of theirs would not work."
    if does(actor, Work.SYSTEM):
        return ""
    if not (actor.is_authenticated and actor.is_active) or actor.pk != owner.pk:
        return "Only the CoC's system administrators make API keys for someone else."
    if set(scopes) - {READ_SCOPE}:
        return "Only the CoC's system administrators make keys that change anything; you may make a read key."
    return ""


def can_manage_api_keys(user) -> bool:
    """Make, rotate and revoke anyone's keys (the HMIS vendor's): system administrators."""
    return does(user, Work.SYSTEM)


def can_manage_webhooks(user) -> bool:
    """Subscribe other systems to the portal's events, pause, resume, delete,
    rotate secrets, read the delivery log and replay: system administrators."""
    return does(user, Work.SYSTEM)


def webhook_recipients() -> QuerySet:
    """Who is told when a webhook subscription is paused, besides its owner."""
    return staff_doing(Work.SYSTEM)


def can_create_own_read_key(user) -> bool:
    return bool(user.is_authenticated and user.is_active)


def own_api_keys(user) -> QuerySet:
    """The keys a person manages on their API keys page: their own. Another
    person's key is not found there, whoever asks (system administrators
    manage everyone's in the admin)."""
    from accounts.apikeys.models import ApiKey

    return ApiKey.objects.filter(owner_id=user.pk) if user.is_authenticated else ApiKey.objects.none()


def can_rotate_api_key(user, key) -> bool:
    return not key.revoked_at and not api_key_refusal(user, key.owner, key.scopes.split())


def can_revoke_api_key(user, key) -> bool:
    """The system administrators, and the key's owner (a key they no longer trust)."""
    return can_manage_api_keys(user) or bool(user.is_authenticated and user.pk == key.owner_id)


def api_key_works_for(owner) -> bool:
    """A key stops working the moment its owner is deactivated."""
    return bool(owner.is_active)


# --- the audit trail ---------------------------------------------------------------------------

# Which work lets CoC staff read the history of objects of each model is
# declared by the model's app (`registry.history_readers.declare(label, works)`
# in its `ready()`; None: every CoC group): the history of a referral tells the
# client's story, so only the CES team reads it.


def history_models_for(user) -> list[str] | None:
    """The `app_label.model` labels whose audit events `user` may read in the
    admin's list; None for all (superusers)."""
    if not is_coc_staff(user):
        return []
    if user.is_superuser:
        return None
    return [label for label, works in registry.history_readers.items()
            if works is None or any(does(user, work) for work in works)]


# --- the admin -----------------------------------------------------------------------------------

# Each model's admin class (an `admin_base.PortalAdmin`) declares the work
# that may view it (`view_work`) and the work that may change it
# (`change_work`), beside the model's own admin. Adding and deleting are the
# admin class's own business (most state lives in services and cannot be added
# or deleted by hand).
EVERY_COC_GROUP = "every CoC group"  # as `view_work`: any CoC staff member may view


def may_admin(user, action: str, model_admin) -> bool:
    """May `user` view or change (`action`) the objects of `model_admin`'s
    model in the admin? CoC staff only; a `view_work` of EVERY_COC_GROUP means
    every CoC group; a model whose admin declares no work is for superusers."""
    if not is_coc_staff(user):
        return False
    if user.is_superuser:
        return True
    view, change = getattr(model_admin, "view_work", None), getattr(model_admin, "change_work", None)
    if view is None and change is None:
        return False
    if action == "change":
        return change is not None and does(user, change)
    return view == EVERY_COC_GROUP or (view is not None and does(user, view)) or (change is not None and does(user, change))


def can_manage_object_permissions(user) -> bool:
    """Giving a CoC staff member per-agency view (guardian's page): system admins only."""
    return does(user, Work.SYSTEM)
