from django.apps import AppConfig


class HMISAccountsConfig(AppConfig):
    name = "hmis_accounts"
    verbose_name = "HMIS accounts"

    def ready(self):
        from accounts.access import Work
        from hmis_access.provisioning import register_queue_model
        from hmis_portal.core import registry
        from training.signals import training_record_changed

        from . import demo, receivers, selectors, tasks, work  # noqa: F401 - run_sweeps looks tasks up by name
        from .models import ReactivationRequest

        # Seed 002: a reactivation that is ready waits in the provisioning
        # queue with the same deadline as new access.
        register_queue_model(ReactivationRequest)
        # A completed retraining lets a waiting reactivation through.
        training_record_changed.connect(receivers.training_record_changed, dispatch_uid="hmis_accounts.training")

        # A person leaving their agency, or an agency whose agreement lapsed,
        # makes HMIS accounts Inactive in that decision's own transaction (the
        # HMIS's active=false is queued with it).
        registry.membership_ended.add(receivers.membership_ended, app=self.name)
        registry.agreements_lapsed.add(receivers.agreements_lapsed, app=self.name)

        registry.open_tasks.add(work.open_tasks, app=self.name)
        registry.demo_builders.add(demo.seed_hmis_activity, app=self.name)
        registry.agency_links.add(work.agency_links, app=self.name)
        registry.hmis_directory.provide(selectors.hmis_directory, app=self.name)
        registry.history_readers.declare("hmis_accounts.reactivationrequest", (Work.HMIS_ACCOUNTS,), app=self.name)
        # Replies to mail about this app's pages go to the support team's inbox (core.models.MailPolicy).
        registry.mail_teams.declare("hmis_accounts", "support", app=self.name)
