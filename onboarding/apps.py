from django.apps import AppConfig


class OnboardingConfig(AppConfig):
    name = "onboarding"
    verbose_name = "Onboarding: agreements and program setup"

    def open_tasks(self, user):
        """Steps 1–2 work that waits on this person, for the home page."""
        from django.template.defaultfilters import pluralize
        from django.urls import reverse

        from accounts.access import is_coc_staff
        from hmis_portal.core.work import OpenTask

        from . import selectors

        if not user.is_authenticated:
            return []
        if is_coc_staff(user):
            counts = selectors.coc_queue_counts(user)
            tasks = []
            for key, noun, rest in (("agreements", "Organization Agreement", "to countersign"),
                                    ("programs", "program setup request", "to work")):
                if key in counts:
                    waiting, oldest = counts[key]
                    tasks.append(OpenTask(title=f"{waiting} {noun}{pluralize(waiting)} {rest}",
                                          url=reverse("onboarding:coc-queue"), section="Onboarding",
                                          detail=f"Oldest waiting {oldest} business day{pluralize(oldest)}."))
            return tasks
        return [
            OpenTask(title=f"{item['title']} — {item['organization']}", url=item["url"], section="Onboarding",
                     detail=" ".join(filter(None, [
                         item["detail"],
                         f"Waiting {item['age']} business day{pluralize(item['age'])}." if item["age"] is not None else ""])),
                     due=item["due"])
            for item in selectors.agency_queue(user)
        ]

    def seed_demo(self, stdout):
        from . import demo

        demo.seed(stdout)

    def agency_history_subjects(self, organization, user):
        """The agency's programs, and its agreements for those who may read them."""
        from accounts.access import can_read_agreements

        subjects = list(organization.programs.all())
        if can_read_agreements(user, organization):
            subjects += list(organization.agreements.all())
        return subjects
