from django.apps import AppConfig


class HMISAccessConfig(AppConfig):
    name = "hmis_access"
    verbose_name = "HMIS access"

    def ready(self):
        from onboarding.signals import participation_changed
        from training.signals import training_record_changed

        from . import receivers, tasks  # noqa: F401 - run_sweeps looks tasks up by name

        # Steps 1 and 2 gate step 3 (seed 000): an agreement or program change
        # re-evaluates the agency's access requests.
        participation_changed.connect(receivers.participation_changed, dispatch_uid="hmis_access.participation")
        # A completed training or a verified form may complete a checklist.
        training_record_changed.connect(receivers.training_record_changed, dispatch_uid="hmis_access.training")

    def seed_demo(self, stdout):
        from . import demo

        demo.seed_access_requests(stdout)

    def open_tasks(self, user):
        from . import work

        return work.open_tasks(user)

    def agency_history_subjects(self, organization, user):
        """The agency's access requests and HMIS accounts, for those who see its user access."""
        from accounts.access import can_see_user_access

        from .models import AccessRequest, HMISAccount

        if not can_see_user_access(user, organization):
            return []
        return [*AccessRequest.objects.filter(organization=organization),
                *HMISAccount.objects.filter(organization=organization)]

    def agency_step_three(self, organization):
        """(what is true now, whom it waits on, done) for the agency page's step 3."""
        from django.db.models import Count, Min, Q
        from django.template.defaultfilters import pluralize

        from hmis_portal.core.dates import deadline_text

        from .models import AccessRequest

        counts = AccessRequest.objects.filter(organization=organization).aggregate(
            awaiting=Count("pk", filter=Q(status=AccessRequest.Status.AWAITING_APPROVAL)),
            open=Count("pk", filter=Q(status=AccessRequest.Status.OPEN)),
            ready=Count("pk", filter=Q(status=AccessRequest.Status.READY)),
            granted=Count("pk", filter=Q(status=AccessRequest.Status.PROVISIONED)),
            due=Min("provisioning_due_at", filter=Q(status=AccessRequest.Status.READY)))
        if not (counts["awaiting"] or counts["open"] or counts["ready"] or counts["granted"]):
            return None
        parts = []
        if counts["awaiting"]:
            parts.append(f"{counts['awaiting']} request{pluralize(counts['awaiting'])} awaiting the CoC's approval")
        if counts["open"]:
            parts.append(f"{counts['open']} user{pluralize(counts['open'])} working through the checklist")
        if counts["ready"]:
            due = deadline_text(counts["due"])
            parts.append(f"{counts['ready']} ready for provisioning ({due[0].lower()}{due[1:]})")
        if counts["granted"]:
            parts.append(f"{counts['granted']} with HMIS access")
        waiting = ("the CoC's provisioning staff, to grant access" if counts["ready"]
                   else "the users and their trainings and forms" if counts["open"]
                   else "the CoC's provisioning staff, to approve the requests" if counts["awaiting"] else "")
        return "; ".join(parts), waiting, not counts["awaiting"] and not counts["open"] and not counts["ready"]
