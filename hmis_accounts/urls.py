from django.urls import path

from . import views

urlpatterns = [
    # HMIS account activity (seed 002)
    path("hmis-account/", views.hmis_account_status, name="hmis-account-status"),
    path("hmis-account/reminders/", views.hmis_account_reminders, name="hmis-account-reminders"),
    path("hmis-account/calendar.ics", views.hmis_account_calendar, name="hmis-account-calendar"),
    path("hmis-account/calendar/<str:token>.ics", views.hmis_account_calendar_feed,
         name="hmis-account-calendar-feed"),
    path("hmis-account/calendar/reset/", views.hmis_account_calendar_reset,
         name="hmis-account-calendar-reset"),
    path("hmis-accounts/", views.hmis_accounts_dashboard, name="hmis-accounts-dashboard"),
    path("hmis-accounts/provisioning/", views.hmis_provisioning, name="hmis-provisioning"),
    path("hmis-accounts/provisioning/commands/<int:pk>/retry/", views.hmis_provisioning_command_retry,
         name="hmis-provisioning-command-retry"),
    path("hmis-accounts/provisioning/test-connection/", views.hmis_provisioning_test, name="hmis-provisioning-test"),
    path("hmis-accounts/<int:pk>/reactivation/", views.hmis_account_request_reactivation,
         name="hmis-account-request-reactivation"),
    path("hmis-accounts/<int:pk>/retraining/", views.hmis_account_retraining_complete,
         name="hmis-account-retraining-complete"),
    path("hmis-accounts/reactivations/<int:pk>/reactivate/", views.reactivation_reactivate,
         name="reactivation-reactivate"),
    path("hmis-accounts/reactivations/<int:pk>/decline/", views.reactivation_decline,
         name="reactivation-decline"),
    path("agencies/<slug:slug>/hmis-accounts/", views.agency_hmis_accounts, name="agency-hmis-accounts"),
]
