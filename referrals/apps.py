from django.apps import AppConfig


class ReferralsConfig(AppConfig):
    name = "referrals"
    verbose_name = "CES referrals"

    def ready(self):
        from accounts.access import Work
        from hmis_portal.core import registry

        from . import demo, work

        registry.open_tasks.add(work.open_tasks, app=self.name)
        registry.demo_builders.add(demo.seed, app=self.name)
        # A referral's history tells the client's story: the CES team alone reads it.
        registry.history_readers.declare("referrals.referral", (Work.REFERRALS,), app=self.name)
        # Replies to mail about this app's pages go to the ces team's inbox (core.models.MailPolicy).
        registry.mail_teams.declare("referrals", "ces", app=self.name)
