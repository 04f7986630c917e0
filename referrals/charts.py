"""The monthly timeliness chart: the core's monthly share chart, with the
CoC's target from `ReferralPolicy.timeliness_target_percent`."""

from hmis_portal.core.charts import MonthShare, monthly_share_chart


def timeliness_chart(figures, *, target_percent: int) -> str:
    return monthly_share_chart(
        [MonthShare(f.month, f.share, f.changes) for f in figures], target_percent=target_percent,
        title="Share of need-status changes made within the timeliness standard", counted="changes within standard",
        none_text="no changes")
