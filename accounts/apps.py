from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and organizations"

    def ready(self):
        from onboarding.signals import participation_changed

        from . import receivers, tasks  # noqa: F401 - run_sweeps looks tasks up by name

        # Steps 1 and 2 gate step 3 (seed 000): an agreement or program change
        # re-evaluates the agency's access requests.
        participation_changed.connect(receivers.participation_changed, dispatch_uid="accounts.access_requests")

    def seed_demo(self, stdout):
        from . import demo

        demo.seed(stdout)
        demo.seed_hmis_activity(stdout)

    def open_tasks(self, user):
        from . import activity_work, work

        return work.open_tasks(user) + activity_work.open_tasks(user)
