"""HMIS accounts: the life of an account once granted (seed 002, SPEC §5).

The account row itself (`hmis_access.models.HMISAccount`) is opened by the
grant; what happens to it afterwards lives here: reactivation requests, and
the services, sweep and pages around logins, inactivity and reminders. The
table kept its name from when the model lived in `accounts` and then
`hmis_access`, so a database upgrades in place (migration 0001 moves only
Django's state).
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Organization, User
from hmis_access.models import HMISAccount, ProvisioningWork


class ReactivationRequest(ProvisioningWork):
    """A request to make an Inactive HMIS account Active again (seed 002).

    Asked for by the agency administrator or the user. It joins the
    provisioning queue (`hmis_access.provisioning`, which it joins from
    this app's `ready()`) with the same deadline
    as new access once it is ready: at once, or, when retraining is
    required, when the assigned retraining courses are completed.
    """

    class Status(models.TextChoices):
        WAITING_FOR_RETRAINING = "waiting_for_retraining", "Waiting for retraining"
        READY = "ready", "Ready for provisioning"
        REACTIVATED = "reactivated", "Reactivated"
        DECLINED = "declined", "Declined"

    OPEN = (Status.WAITING_FOR_RETRAINING, Status.READY)
    queue_kind = "reactivation"

    account = models.ForeignKey(HMISAccount, on_delete=models.CASCADE, related_name="reactivation_requests")
    # The account's user and agency, copied so the shared queue, its sweep
    # and `restrict` read them like an access request's.
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="reactivation_requests")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="reactivation_requests")
    requested_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    note = models.TextField(blank=True)
    status = models.CharField(max_length=30, choices=Status.choices)
    declined_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    declined_at = models.DateTimeField(null=True, blank=True)
    decline_reason = models.TextField(blank=True)

    class Meta:
        db_table = "accounts_reactivationrequest"
        ordering = ["provisioning_due_at", "requested_at"]
        constraints = [
            # One open request per account: a double submit, or the user and
            # the agency administrator asking at once, finds the first one.
            models.UniqueConstraint(fields=["account"], condition=Q(status__in=["waiting_for_retraining", "ready"]),
                                    name="one_open_reactivation_request"),
        ]
        # The staff overview (open requests by deadline), the provisioning queue and the deadline sweep.
        indexes = [models.Index(fields=["status", "provisioning_due_at"], name="reactivation_queue")]

    def __str__(self):
        return f"Reactivation of {self.account} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN

    @classmethod
    def awaiting_provisioning(cls):
        return cls.objects.filter(status=cls.Status.READY)
