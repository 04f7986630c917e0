"""The CoC's training policy (seed 000, step 3; SPEC §4), sessions, completions
and the user forms.

Everything in the first half of this file is policy: rows CoC staff edit in
the admin, loaded with LA's defaults by migration 0002. Nothing in code names
a particular course or role.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from hmis_portal.core.dates import moment_text
from hmis_portal.core.documents import RandomName, private_storage
from hmis_portal.core.models import CachedRows


# What a checklist item may wait for besides other items: CoC staff approving
# the person's access request (seed 003).
APPROVAL = "approval"
APPROVAL_LABEL = "CoC approval of the request"
WAITS_FOR_HELP = ("Codes of the courses and forms this one comes after (each counts once it is completed or "
                  "verified, and only where it is on the person's checklist), and \u201capproval\u201d for CoC "
                  "staff approving the person's access request.")


def validate_waits_for(value) -> None:
    if not isinstance(value, list) or not all(isinstance(code, str) and code for code in value):
        raise ValidationError("A list of course or form codes, or \u201capproval\u201d.")


class Course(CachedRows):
    class Delivery(models.TextChoices):
        WEBINAR = "webinar", "Webinar"
        CLASSROOM = "classroom", "Classroom"
        ONLINE = "online", "Online, self-paced"

    code = models.SlugField(max_length=50, unique=True)
    title = models.CharField(max_length=150, unique=True)
    hours = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True,
                                help_text="Length in hours; empty when the CoC does not state it.")
    delivery = models.CharField(max_length=20, choices=Delivery.choices, default=Delivery.CLASSROOM)
    # Where a self-paced course is taken (its delivery "online"): the checklist
    # offers it instead of registering for a session.
    link = models.URLField(
        max_length=300, blank=True, help_text="Where the course is taken online (https://...); for a self-paced "
                                              "course, the checklist links to it.")
    new_users_only = models.BooleanField(
        default=False, help_text="Required only of people who are new to HMIS."
    )
    also_satisfies = models.ManyToManyField(
        "self", symmetrical=False, blank=True, related_name="satisfied_by",
        help_text="Completing this course also completes these (a full class that covers a shorter one's content).",
    )
    waits_for = models.JSONField(
        default=list, blank=True, validators=[validate_waits_for],
        help_text=WAITS_FOR_HELP)
    sort_order = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(
        default=True, help_text="Off to stop requiring the course of anyone new; records that name it are kept.")

    class Meta:
        ordering = ["sort_order", "title"]

    def __str__(self):
        return self.title

    @classmethod
    def covers(cls) -> dict[int, frozenset[int]]:
        """For each course, the courses that completing it also completes
        (`also_satisfies`): every checklist reads them, so they are kept in
        `core.cached` until a course or these links change."""
        from hmis_portal.core import cached

        def load():
            found: dict[int, set[int]] = {}
            for outer, inner in cls.also_satisfies.through.objects.values_list("from_course_id", "to_course_id"):
                found.setdefault(outer, set()).add(inner)
            return {outer: frozenset(inners) for outer, inners in found.items()}

        return cached.read("training:course-covers", load, depends=(cls.cache_name(),))

    @property
    def label(self) -> str:
        hours = f"{self.hours.normalize():f} h" if self.hours is not None else ""
        parts = [p for p in (hours, self.get_delivery_display().lower()) if p]
        return f"{self.title} ({', '.join(parts)})" if parts else self.title


HMIS_GROUP_MAX = 120


class CESRole(CachedRows):
    """An individual's role in CES (seed 000, step 3), with its rank: a person
    with several roles is provisioned the highest-ranked one's HMIS role
    ("the highest, appropriate level of access")."""

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=120, unique=True)
    access_rank = models.PositiveSmallIntegerField(
        unique=True, help_text="Higher means more access. The highest of a user's roles decides the HMIS role."
    )
    hmis_role = models.CharField("HMIS role provided", max_length=80)
    # The HMIS's own name for the role's group: a granted user is made a member
    # of it (SCIM 2.0 group membership), and the nightly reconciliation
    # compares the HMIS's groups with it. Every CES role giving one HMIS role
    # names the same group.
    hmis_group = models.CharField(
        "HMIS group", max_length=HMIS_GROUP_MAX,
        help_text="The group in the HMIS that gives this HMIS role (its name there). CES roles with the same HMIS "
                  "role name the same group.")
    any_program_type = models.BooleanField(
        default=False, help_text="The role fits an agency with any program (Community Coordinator, Matcher)."
    )
    program_types = models.ManyToManyField(
        "onboarding.ProgramType", blank=True, related_name="ces_roles",
        help_text="Program types this role belongs to (ignored when 'any program type' is on).",
    )
    required_courses = models.ManyToManyField(Course, blank=True, related_name="required_by_roles")
    # SPEC §4: client data of referrals is for people whose granted HMIS role
    # works referrals (Housing Provider, the least access, and up).
    works_referrals = models.BooleanField(
        default=True, help_text="People granted this role's HMIS role at an agency work its CES referrals and see "
                                "the clients' details.")
    active = models.BooleanField(
        default=True, help_text="Off to stop offering the role on new access requests; existing ones keep it.")

    class Meta:
        ordering = ["access_rank"]
        verbose_name = "CES role"

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        self.hmis_group = (self.hmis_group or "").strip()
        other = (CESRole.objects.filter(hmis_role=self.hmis_role).exclude(pk=self.pk)
                 .exclude(hmis_group=self.hmis_group).first())
        if other is not None:
            raise ValidationError({"hmis_group": (
                f"{other} also gives {self.hmis_role} and names its HMIS group “{other.hmis_group}”: one HMIS role "
                f"has one group. Use “{other.hmis_group}”, or change {other} first.")})

    def fits(self, program_type_id) -> bool:
        return self.any_program_type or program_type_id in {t.pk for t in self.program_types.all()}

    @classmethod
    def courses_by_role(cls) -> dict[int, tuple]:
        """The courses each role requires (`required_courses`), by role id:
        every checklist reads them, so they are kept in `core.cached` until a
        role, a course or these links change."""
        from hmis_portal.core import cached

        def load():
            found: dict[int, list] = {}
            for link in cls.required_courses.through.objects.select_related("course").order_by(
                    "course__sort_order", "course__title", "course_id"):
                found.setdefault(link.cesrole_id, []).append(link.course)
            return {role_id: tuple(courses) for role_id, courses in found.items()}

        return cached.read("training:role-courses", load, depends=(cls.cache_name(), Course.cache_name()))


class AccessCapability(CachedRows):
    """A row of seed 000's access matrix: what each role may do in HMIS."""

    name = models.CharField(max_length=150, unique=True)
    roles = models.ManyToManyField(CESRole, blank=True, related_name="capabilities")
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "name"]
        verbose_name = "access matrix row"

    def __str__(self):
        return self.name


class Signer(models.TextChoices):
    """Who files or signs a user's form: the user themself, or one of the
    agency's personas at the user's agency (seed 004: the User Agreement is
    signed by the user, the Agency Administrator and the Executive Director;
    the Agency Administrator files the User Request Form)."""

    USER = "user", "The user"
    AGENCY_ADMINISTRATOR = "agency_administrator", "Agency Administrator"
    EXECUTIVE_DIRECTOR = "executive_director", "Executive Director / Authorized Representative"
    PROGRAM_MANAGER = "program_manager", "Program Manager"


def validate_signers(value) -> None:
    """A signer list: roles of `Signer`, each once; empty means the filer alone."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError("Signers are a list of roles.")
    unknown = [v for v in value if v not in Signer.values]
    if unknown:
        raise ValidationError(f"Unknown signer {', '.join(unknown)} (known: {', '.join(Signer.values)}).")
    if len(set(value)) != len(value):
        raise ValidationError("A role signs once: it is named twice.")


class RequiredForm(CachedRows):
    """A signed form a user must upload before access (seed 000: HMIS 10
    Acknowledgement for new users, User Agreement for everyone; seed 003 would
    add a User Policy and Responsibilities form).

    Its signers sign in order (`signers`; empty: whoever files it, alone), in
    the portal or by uploading a scanned signed copy, as `signing` allows."""

    class Signing(models.TextChoices):
        UPLOAD = "upload", "Upload a scanned signed copy"
        PORTAL = "portal", "Sign in the portal"
        EITHER = "either", "Sign in the portal or upload a scanned copy"

    code = models.SlugField(max_length=50, unique=True)
    title = models.CharField(max_length=150, unique=True)
    description = models.TextField(blank=True)
    new_users_only = models.BooleanField(default=False)
    # Seed 000: the HMIS 10 Acknowledgement is signed after HMIS 10, so it is
    # asked of exactly the people whose checklist has HMIS 10 on it.
    course = models.ForeignKey(
        Course, null=True, blank=True, on_delete=models.PROTECT, related_name="forms",
        help_text="Required only of people who must take this course; empty: of everyone.",
    )
    filed_by = models.CharField(
        max_length=30, choices=Signer.choices, default=Signer.USER,
        help_text="Who files the form for the user: the user, or a persona of the user's agency (the user then "
                  "sees it on their checklist but cannot file it).")
    signers = models.JSONField(
        default=list, blank=True, validators=[validate_signers],
        help_text="Who signs, in order, each a role: user, agency_administrator, executive_director, "
                  "program_manager. The first is whoever files the form. Empty: the filer alone.")
    signing = models.CharField(max_length=10, choices=Signing.choices, default=Signing.UPLOAD,
                               help_text="How each signer signs.")
    attestation = models.TextField(
        blank=True, help_text="What a signer attests by ticking the box when signing in the portal, e.g. "
                              "\u201cI have read this agreement and agree to its terms.\u201d")
    verify_portal_signatures = models.BooleanField(
        "training staff verify forms signed in the portal", default=True,
        help_text="Off: a form every signer signed in the portal is complete with the last signature. Uploaded "
                  "copies are always verified.")
    # Seed 000: the HMIS 10 Acknowledgement comes "upon completion of HMIS 10";
    # seed 004: the User Request Form includes the certificates and the signed agreement.
    waits_for = models.JSONField(
        default=list, blank=True, validators=[validate_waits_for],
        help_text=WAITS_FOR_HELP)
    sort_order = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(
        default=True, help_text="Off to stop asking anyone for the form; uploads already made are kept.")

    class Meta:
        ordering = ["sort_order", "title"]

    def __str__(self):
        return self.title

    def clean(self):
        errors = {}
        roles = list(self.signers or [])
        if roles and roles[0] != self.filed_by:
            errors["signers"] = (f"The first signer is whoever files the form ({Signer(self.filed_by).label}); "
                                 "put that role first or change who files it.")
        if self.signing != self.Signing.UPLOAD and not self.attestation.strip():
            errors["attestation"] = "Signing in the portal needs the text each signer attests to."
        if errors:
            raise ValidationError(errors)

    @property
    def signer_roles(self) -> list[str]:
        """The roles that sign, in order."""
        return list(self.signers) or [self.filed_by]

    @classmethod
    def later_signers(cls) -> frozenset[str]:
        """The roles that sign an active form after someone else has (whose
        turn comes while it is being signed), kept in `core.cached` until a
        form changes: a home page asks nothing of those who hold none."""
        from hmis_portal.core import cached

        def load():
            return frozenset(role for signers in cls.objects.filter(active=True).values_list("signers", flat=True)
                             for role in list(signers or [])[1:])

        return cached.read(cls.cache_name(), load)

    @property
    def in_portal(self) -> bool:
        return self.signing in (self.Signing.PORTAL, self.Signing.EITHER)

    @property
    def by_upload(self) -> bool:
        return self.signing in (self.Signing.UPLOAD, self.Signing.EITHER)


class FormTemplate(CachedRows):
    """A version of a form's blank document, uploaded by CoC staff: what
    people download and sign. A new version leaves copies signed on earlier
    versions valid unless `resign_required`: then forms of earlier versions
    are signed again (`training.services.form_template_upload`)."""

    form = models.ForeignKey(RequiredForm, on_delete=models.PROTECT, related_name="templates")
    version = models.PositiveIntegerField()
    document = models.FileField(storage=private_storage, upload_to=RandomName("form-templates"))
    sha256 = models.CharField("SHA-256", max_length=64)
    resign_required = models.BooleanField(
        "signed copies of earlier versions must be signed again", default=False)
    note = models.CharField(max_length=300, blank=True, help_text="What changed in this version.")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["form", "-version"]
        verbose_name = "blank form version"
        constraints = [models.UniqueConstraint(fields=["form", "version"], name="one_form_template_version")]

    def __str__(self):
        return f"{self.form} (blank, version {self.version})"


class TrainingSession(models.Model):
    """A session of a course, scheduled by CoC training staff in the admin."""

    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="sessions")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    capacity = models.PositiveIntegerField(help_text="Seats; registrations beyond it join the waitlist.")
    webinar_url = models.URLField("webinar link", blank=True)
    location = models.CharField("place", max_length=200, blank=True)
    notes = models.TextField(blank=True)
    cancelled = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    # Grows by one each time the session's time or place changes or it is
    # cancelled: with its registrations' own, the SEQUENCE of their calendar
    # events, so calendar apps replace an old copy rather than keep both.
    sequence = models.PositiveIntegerField(default=0, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["starts_at", "pk"]

    def __str__(self):
        return f"{self.course.title} — {moment_text(self.starts_at)}"

    def clean(self):
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "The session must end after it starts."})
        if not self.webinar_url and not self.location:
            raise ValidationError("Give a webinar link or a place, so people know where to go.")
        if self.capacity is not None and self.capacity < 1:
            raise ValidationError({"capacity": "A session needs at least one seat."})

    @property
    def where(self) -> str:
        return self.webinar_url or self.location


class Registration(models.Model):
    class Status(models.TextChoices):
        REGISTERED = "registered", "Registered"
        WAITLISTED = "waitlisted", "Waitlisted"
        CANCELLED = "cancelled", "Cancelled"
        ATTENDED = "attended", "Attended"
        NO_SHOW = "no_show", "No-show"

    ACTIVE = (Status.REGISTERED, Status.WAITLISTED, Status.ATTENDED)

    session = models.ForeignKey(TrainingSession, on_delete=models.CASCADE, related_name="registrations")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="registrations")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.REGISTERED)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # Grows by one with each change of status (see TrainingSession.sequence).
    sequence = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["session__starts_at", "created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["session", "user"], condition=~Q(status="cancelled"),
                                    name="one_live_registration_per_session"),
        ]

    def __str__(self):
        return f"{self.user} — {self.session} ({self.get_status_display()})"


class Completion(models.Model):
    """A course a person has completed, kept per person (not per request) so
    that an existing HMIS user does not retake what they already have."""

    class Source(models.TextChoices):
        ATTENDANCE = "attendance", "Attendance recorded"
        CERTIFICATE = "certificate", "Certificate verified"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="completions")
    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="completions")
    completed_on = models.DateField()
    source = models.CharField(max_length=12, choices=Source.choices)
    registration = models.OneToOneField(Registration, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="completion")
    certificate = models.OneToOneField("Certificate", null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="completion")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-completed_on", "-pk"]

    def __str__(self):
        return f"{self.user} completed {self.course} on {self.completed_on}"


class Review(models.TextChoices):
    SIGNING = "signing", "Being signed"
    SUBMITTED = "submitted", "Awaiting verification"
    VERIFIED = "verified", "Verified"
    RETURNED = "returned", "Returned"
    SUPERSEDED = "superseded", "Replaced by a newer upload"


class ReviewedUpload(models.Model):
    """What certificates and signed forms share: an upload that training
    staff verify or return with a reason (`training.services._review`)."""

    status = models.CharField(max_length=12, choices=Review.choices, default=Review.SUBMITTED)
    reason = models.TextField(blank=True)
    submitted_at = models.DateTimeField(default=timezone.now)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class Certificate(ReviewedUpload):
    """A completion certificate the user uploads instead of attending a
    session; training staff verify it (or return it, e.g. wrong course)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="certificates")
    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="certificates")
    completed_on = models.DateField("date on the certificate")
    document = models.FileField(storage=private_storage, upload_to=RandomName("certificates"))

    class Meta:
        ordering = ["-submitted_at", "-pk"]

    def __str__(self):
        return f"{self.course} certificate of {self.user}"


class FormSubmission(ReviewedUpload):
    """One uploaded version of a user's signed form. A new upload is a new
    version; training staff verify it or return it with a reason."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="form_submissions")
    form = models.ForeignKey(RequiredForm, on_delete=models.PROTECT, related_name="submissions")
    version = models.PositiveIntegerField()
    # The latest scanned copy; empty when every signer signed in the portal.
    document = models.FileField(storage=private_storage, upload_to=RandomName("user-forms"), blank=True)
    # The blank version the signers signed (in the portal, or downloaded to sign on paper).
    template = models.ForeignKey(FormTemplate, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="submissions")

    class Meta:
        ordering = ["-submitted_at", "-pk"]
        verbose_name = "user form"
        constraints = [
            models.UniqueConstraint(fields=["user", "form", "version"], name="one_form_version"),
        ]

    def __str__(self):
        return f"{self.form} of {self.user} (version {self.version})"


class FormSignature(models.Model):
    """One signer's signature on one version of a user's form, in the order
    of the form's signers. Kept with what they signed: the typed name, the
    attestation they ticked, the moment and the SHA-256 of the exact document
    (the blank version signed in the portal, or the uploaded scan)."""

    class Method(models.TextChoices):
        PORTAL = "portal", "Signed in the portal"
        UPLOAD = "upload", "Uploaded a scanned signed copy"

    submission = models.ForeignKey(FormSubmission, on_delete=models.CASCADE, related_name="signatures")
    position = models.PositiveSmallIntegerField(help_text="0 for the first signer.")
    role = models.CharField(max_length=30, choices=Signer.choices)
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="form_signatures")
    method = models.CharField(max_length=10, choices=Method.choices)
    typed_name = models.CharField(max_length=150, blank=True)
    attestation = models.TextField(blank=True)
    document = models.FileField(storage=private_storage, upload_to=RandomName("user-forms"), blank=True)
    sha256 = models.CharField("SHA-256 of the signed document", max_length=64)
    signed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["submission", "position"]
        constraints = [
            models.UniqueConstraint(fields=["submission", "position"], name="one_signature_per_place"),
            models.UniqueConstraint(fields=["submission", "signer"], name="one_signature_per_person"),
        ]

    def __str__(self):
        return f"{self.get_role_display()} signature on {self.submission}"


def _access_matrix_changed(**kwargs):
    """A matrix row's roles changed (`.set()`, `.add()`, the admin's form):
    pages keep the matrix in `core.cached` (hmis_access.checklist), and a
    change of the m2m rows sends no save."""
    from hmis_portal.core import cached

    cached.changed(AccessCapability.cache_name())


models.signals.m2m_changed.connect(_access_matrix_changed, sender=AccessCapability.roles.through,
                                   dispatch_uid="training-access-matrix-changed")


def _course_covers_changed(**kwargs):
    """A course's `also_satisfies` changed: `Course.covers()` is read again."""
    from hmis_portal.core import cached

    cached.changed(Course.cache_name())


models.signals.m2m_changed.connect(_course_covers_changed, sender=Course.also_satisfies.through,
                                   dispatch_uid="training-course-covers-changed")


def _role_courses_changed(**kwargs):
    """A role's `required_courses` changed: `CESRole.courses_by_role()` is read again."""
    from hmis_portal.core import cached

    cached.changed(CESRole.cache_name())


models.signals.m2m_changed.connect(_role_courses_changed, sender=CESRole.required_courses.through,
                                   dispatch_uid="training-role-courses-changed")
