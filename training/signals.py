from django.dispatch import Signal

# Sent once the sender's transaction commits (hmis_portal.core.signals.send_on_commit)
# when one of a person's training records or forms changes in a way that can
# complete or reopen a checklist item: a completion recorded, a certificate or
# form verified or returned. Whatever is gated on training (HMIS access
# requests, reactivations waiting for retraining) re-evaluates. Arguments:
# user, actor.
training_record_changed = Signal()
