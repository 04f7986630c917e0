from django.apps import AppConfig


class PartnershipsConfig(AppConfig):
    name = "partnerships"
    verbose_name = "Data partnerships"

    def ready(self):
        from accounts.access import Work
        from hmis_portal.core import registry

        from . import demo, work

        registry.open_tasks.add(work.open_tasks, app=self.name)
        registry.demo_builders.add(demo.seed, app=self.name)
        registry.agency_history_subjects.add(work.agency_history_subjects, app=self.name)
        registry.agency_links.add(work.agency_links, app=self.name)
        registry.participation_links.add(work.agency_links, app=self.name)
        registry.instead_of_joining.add(work.instead_of_joining, app=self.name)
        for label in ("partnerships.datapartnership", "partnerships.intakebatch"):
            registry.history_readers.declare(label, (Work.DATA_PARTNERSHIPS,), app=self.name)
        # Replies to mail about this app's pages go to the implementation team's inbox (core.models.MailPolicy).
        registry.mail_teams.declare("partnerships", "implementation", app=self.name)
