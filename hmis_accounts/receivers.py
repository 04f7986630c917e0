"""How HMIS accounts hear of changes in the earlier stages: named signals
(after the sender commits), and the registry's `membership_ended` and
`agreements_lapsed` (inside the sender's transaction, see `apps.py`)."""

from hmis_access.models import HMISAccount

from .services import hmis_accounts_close_for_departure, hmis_accounts_deactivate, retraining_refresh


def training_record_changed(sender, user, actor=None, **kwargs):
    # A completed retraining (seed 002) lets a waiting reactivation through.
    retraining_refresh(user=user, actor=actor)


def membership_ended(*, organization, person, actor, at, **kwargs):
    # Someone who is no longer with the agency keeps no HMIS access through it:
    # the portal makes the account Inactive, the HMIS follows and the agency's
    # administrators hear of it (the same rule as the referrals' "only while
    # they are still a member there").
    hmis_accounts_close_for_departure(organization=organization, person=person, actor=actor, at=at)


def agreements_lapsed(*, organization_ids, at, actor=None, why="", **kwargs):
    # Seed 000, step 1: the Organization Agreement is what lets an agency's
    # people into HMIS; with none in force (expired, or terminated by CoC
    # staff: `actor`, with their reason in `why`), its accounts go Inactive.
    hmis_accounts_deactivate(
        accounts=HMISAccount.objects.filter(organization_id__in=list(organization_ids)),
        reason=HMISAccount.InactiveReason.AGREEMENT_EXPIRED, at=at, actor=actor,
        why=why or "The agency's Organization Agreement is no longer in force.")
