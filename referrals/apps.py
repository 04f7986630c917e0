from django.apps import AppConfig


class ReferralsConfig(AppConfig):
    name = "referrals"
    verbose_name = "CES referrals"

    def open_tasks(self, user):
        """The provider's counts on the home page (seed 001: "Receive referrals
        through Counts Reports"): overdue and awaiting-response referrals per
        program; for the CES team, overdue referrals and returned clients."""
        from urllib.parse import urlencode

        from django.db.models import Count, Q
        from django.urls import reverse
        from django.utils import timezone

        from accounts.access import is_coc_staff
        from hmis_portal.core.work import OpenTask

        from . import selectors, services
        from .models import NeedStatus

        if not user.is_authenticated or (is_coc_staff(user) and not services.is_ces_team(user)):
            return []
        now = timezone.now()
        list_url = reverse("referrals:list")
        tasks = []
        if services.is_ces_team(user):
            overdue = selectors.overdue_referrals(user, now=now).count()
            returned = selectors.referral_list(user, queue="returned").count()
            if overdue:
                tasks.append(OpenTask(f"{overdue} overdue referral{'s' if overdue != 1 else ''} across providers",
                                      reverse("referrals:overdue"), section="CES referrals", overdue=True))
            if returned:
                tasks.append(OpenTask(f"{returned} client{'s' if returned != 1 else ''} returned for re-referral",
                                      f"{list_url}?queue=returned", section="CES referrals"))
            return tasks
        initial = NeedStatus.objects.filter(is_initial=True).values_list("pk", flat=True).first()
        rows = (selectors.visible_referrals(user).filter(is_open=True)
                .values("program_id", "program__name")
                .annotate(overdue=Count("id", filter=Q(due_at__lte=now)),
                          waiting=Count("id", filter=Q(status_id=initial)))
                .order_by("program__name"))
        for row in rows:
            if row["overdue"]:
                tasks.append(OpenTask(
                    f"{row['overdue']} overdue referral{'s' if row['overdue'] != 1 else ''} to {row['program__name']}",
                    f"{list_url}?{urlencode({'program': row['program_id'], 'due': 'overdue'})}",
                    section="CES referrals", overdue=True))
            if row["waiting"]:
                tasks.append(OpenTask(
                    f"{row['waiting']} new referral{'s' if row['waiting'] != 1 else ''} to {row['program__name']} "
                    "awaiting your response",
                    f"{list_url}?{urlencode({'program': row['program_id'], 'status': initial})}",
                    section="CES referrals"))
        return tasks

    def seed_demo(self, stdout):
        from . import demo

        demo.seed(stdout)
