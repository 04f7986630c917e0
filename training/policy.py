"""What the policy rows mean for one user: the courses and forms they need and
the HMIS role to provision (seed 000, step 3; SPEC §4). Pure functions over
prefetched rows, so a list of many users costs no query per user."""

from collections.abc import Iterable
from dataclasses import dataclass, field

from .models import APPROVAL, APPROVAL_LABEL, CESRole, Course, RequiredForm


def highest_role(roles: Iterable):
    """Seed 000: "If the user has more than one role, they will receive the
    highest, appropriate level of access" — the role with the highest rank."""
    roles = list(roles)
    return max(roles, key=lambda role: role.access_rank) if roles else None


@dataclass
class RoleChoice:
    """The CES role whose HMIS role a person is provisioned, and the
    capabilities of the person's roles that role leaves out (none, unless no
    role covers them all)."""
    role: object = None
    left_out: list[str] = field(default_factory=list)

    @property
    def hmis_role(self) -> str:
        return self.role.hmis_role if self.role else ""


def role_from_matrix(roles: Iterable, ladder: Iterable, matrix: dict[int, list[str]]) -> RoleChoice:
    """Seed 000's access matrix decides a person's HMIS role ("the highest,
    appropriate level of access"): the lowest-ranked role, no lower than the
    person's own highest, whose capabilities cover every capability of the
    person's roles; where none does, the highest role, leaving out what it
    lacks. `ladder` is the CoC's roles (any order); `matrix` the capability
    names of each role, by role id, in the matrix's order. Without a matrix
    for the person's roles, their highest role."""
    roles = list(roles)
    if not roles:
        return RoleChoice()
    own = highest_role(roles)
    needed = list(dict.fromkeys(name for role in sorted(roles, key=lambda r: r.access_rank)
                                for name in matrix.get(role.pk, ())))
    if not needed:
        return RoleChoice(own)
    ladder = sorted({role.pk: role for role in [*ladder, *roles]}.values(), key=lambda r: r.access_rank)
    for role in ladder:
        if role.access_rank >= own.access_rank and set(needed) <= set(matrix.get(role.pk, ())):
            return RoleChoice(role)
    top = ladder[-1]
    return RoleChoice(top, [name for name in needed if name not in set(matrix.get(top.pk, ()))])


def required_courses(roles: Iterable, *, new_user: bool, by_role: dict | None = None,
                     covers: dict | None = None) -> list[Course]:
    """Every course the roles require, each once; new-users-only courses
    (HMIS 10) only for new HMIS users; a course another required course
    already covers (509 first half under 509 full) is dropped.

    The courses of each role (`CESRole.courses_by_role`) and those each
    course also covers (`Course.covers`) are kept in the cache; a caller
    working out many people's courses outside a web request (where nothing
    is kept between reads) passes them, read once."""
    courses: dict[int, Course] = {}
    by_role = CESRole.courses_by_role() if by_role is None else by_role
    for role in roles:
        for course in by_role.get(role.pk, ()):
            # A retired course is required of nobody any more; completions of it are kept.
            if not course.active or (course.new_users_only and not new_user):
                continue
            courses[course.pk] = course
    covers = Course.covers() if covers is None else covers
    covered = {inner for pk in courses for inner in covers.get(pk, ())}
    return sorted((c for pk, c in courses.items() if pk not in covered), key=lambda c: (c.sort_order, c.title))


def required_forms(forms: Iterable[RequiredForm], *, new_user: bool, courses: Iterable[Course]) -> list[RequiredForm]:
    """The forms of a person whose required courses are `courses` (from
    `required_courses`): a form tied to a course only when that course is
    among them, a new-users-only form only for new HMIS users, a retired form
    never."""
    course_ids = {course.pk for course in courses}
    return [
        form for form in forms
        if form.active and (new_user or not form.new_users_only) and (form.course_id is None or form.course_id in course_ids)
    ]


def completed_course_ids(completions: Iterable, *, covers: dict | None = None) -> set[int]:
    """The courses a person's completions count for, including those a
    completed course also satisfies (`Course.covers`, kept in the cache, or
    passed read once, as to `required_courses`)."""
    covers = Course.covers() if covers is None else covers
    done = set()
    for completion in completions:
        done.add(completion.course_id)
        done.update(covers.get(completion.course_id, ()))
    return done


def misfit_roles(roles: Iterable, program_type_ids: set[int]) -> list:
    """Roles none of the given program types fits (roles need `program_types`
    prefetched)."""
    return [
        role for role in roles
        if not role.any_program_type and not ({t.pk for t in role.program_types.all()} & program_type_ids)
    ]


def unmet_waits(item, *, approved: bool, items: dict) -> list[tuple[str, str]]:
    """What `item` (a course or form) still waits for, as (code, label) pairs
    in the order of `items`: the person's checklist, {code: (label, done)}.
    Only items on the checklist are waited for (a course the person's roles
    do not require is not); "approval" waits until CoC staff approve the
    request (always met where the CoC has no approval step: `approved`)."""
    wanted = set(item.waits_for or ())
    unmet = [(APPROVAL, APPROVAL_LABEL)] if APPROVAL in wanted and not approved else []
    unmet += [(code, label) for code, (label, done) in items.items()
              if code in wanted and code != item.code and not done]
    return unmet
