from django.apps import AppConfig


class HMISAccountsConfig(AppConfig):
    name = "hmis_accounts"
    verbose_name = "HMIS accounts"

    def ready(self):
        from hmis_access.provisioning import register_queue_model
        from training.signals import training_record_changed

        from . import receivers, tasks  # noqa: F401 - run_sweeps looks tasks up by name
        from .models import ReactivationRequest

        # Seed 002: a reactivation that is ready waits in the provisioning
        # queue with the same deadline as new access.
        register_queue_model(ReactivationRequest)
        # A completed retraining lets a waiting reactivation through.
        training_record_changed.connect(receivers.training_record_changed, dispatch_uid="hmis_accounts.training")

    def seed_demo(self, stdout):
        from . import demo

        demo.seed_hmis_activity(stdout)

    def open_tasks(self, user):
        from . import work

        return work.open_tasks(user)
