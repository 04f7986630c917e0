from django.dispatch import Signal

# Sent once the sender's transaction commits (hmis_portal.core.signals.send_on_commit)
# when an organization's agreement or one of its programs changes stage, so
# that whatever is gated on steps 1 and 2 (seed 000: "Step 1 and Step 2 must
# be completed prior to Step 3") re-evaluates. Arguments: organization. Sent
# by onboarding.services when an agreement is submitted, executed, returned or
# expires, and when a program's setup status changes.
participation_changed = Signal()
