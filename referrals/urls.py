from django.urls import path

from . import views

app_name = "referrals"

urlpatterns = [
    path("", views.counts, name="counts"),
    path("list/", views.referral_list, name="list"),
    path("overdue/", views.overdue, name="overdue"),
    path("new/", views.create, name="create"),
    path("timeliness/", views.timeliness, name="timeliness"),
    path("providers/", views.providers, name="providers"),
    path("export.csv", views.export, name="export"),
    path("hud-events.zip", views.hud_events, name="hud-events"),
    path("hud-events/", views.hud_events_page, name="hud-events-page"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/status/", views.change_status, name="change-status"),
    path("<int:pk>/move-in/", views.record_move_in, name="move-in"),
    path("<int:pk>/transfer/", views.request_transfer, name="transfer"),
    path("<int:pk>/ce-enrollment/", views.record_ce_enrollment, name="ce-enrollment"),
    path("<int:pk>/re-refer/", views.rerefer, name="rerefer"),
]
