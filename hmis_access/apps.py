from django.apps import AppConfig


class HMISAccessConfig(AppConfig):
    name = "hmis_access"
    verbose_name = "HMIS access"

    def ready(self):
        from accounts.access import Work
        from hmis_portal.core import registry
        from onboarding.signals import participation_changed
        from training.signals import training_record_changed

        from . import demo, metrics, receivers, selectors, tasks, work  # noqa: F401 - run_sweeps looks tasks up by name

        # Steps 1 and 2 gate step 3 (seed 000): an agreement or program change
        # re-evaluates the agency's access requests.
        participation_changed.connect(receivers.participation_changed, dispatch_uid="hmis_access.participation")
        # A completed training or a verified form may complete a checklist.
        training_record_changed.connect(receivers.training_record_changed, dispatch_uid="hmis_access.training")

        registry.open_tasks.add(work.open_tasks, app=self.name)
        registry.metric_figures.add(metrics.provisioning_figures, app=self.name)
        registry.demo_builders.add(demo.seed_access_requests, app=self.name)
        registry.demo_builders.add(demo.seed_housing_provider_access, app=self.name)
        registry.agency_history_subjects.add(work.agency_history_subjects, app=self.name)
        registry.agency_step_three.add(work.agency_step_three, app=self.name)
        registry.agency_links.add(work.agency_links, app=self.name)
        registry.participation_links.add(work.participation_links, app=self.name)
        # What the authorization module (accounts.access) reads of this stage's policy and accounts.
        registry.access_policy.provide(selectors.access_policy, app=self.name)
        registry.active_hmis_accounts.provide(selectors.active_hmis_accounts, app=self.name)
        registry.approval_stage.provide(selectors.approval_stage, app=self.name)
        registry.unmet_prerequisites.provide(selectors.unmet_prerequisites, app=self.name)
        registry.history_readers.declare("hmis_access.accessrequest", (Work.USER_ACCESS,), app=self.name)
        registry.history_readers.declare("hmis_access.hmisaccount", (Work.HMIS_ACCOUNTS,), app=self.name)
        # Replies to mail about this app's pages go to the support team's inbox (core.models.MailPolicy).
        registry.mail_teams.declare("hmis_access", "support", app=self.name)
