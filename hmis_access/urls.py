from django.urls import path

from . import activity_views, views

urlpatterns = [
    # HMIS account activity (seed 002)
    path("hmis-account/", activity_views.hmis_account_status, name="hmis-account-status"),
    path("hmis-account/reminders/", activity_views.hmis_account_reminders, name="hmis-account-reminders"),
    path("hmis-account/calendar.ics", activity_views.hmis_account_calendar, name="hmis-account-calendar"),
    path("hmis-account/calendar/<str:token>.ics", activity_views.hmis_account_calendar_feed,
         name="hmis-account-calendar-feed"),
    path("hmis-account/calendar/reset/", activity_views.hmis_account_calendar_reset,
         name="hmis-account-calendar-reset"),
    path("hmis-accounts/", activity_views.hmis_accounts_dashboard, name="hmis-accounts-dashboard"),
    path("hmis-accounts/<int:pk>/reactivation/", activity_views.hmis_account_request_reactivation,
         name="hmis-account-request-reactivation"),
    path("hmis-accounts/<int:pk>/retraining/", activity_views.hmis_account_retraining_complete,
         name="hmis-account-retraining-complete"),
    path("hmis-accounts/reactivations/<int:pk>/reactivate/", activity_views.reactivation_reactivate,
         name="reactivation-reactivate"),
    path("hmis-accounts/reactivations/<int:pk>/decline/", activity_views.reactivation_decline,
         name="reactivation-decline"),
    path("agencies/<slug:slug>/hmis-accounts/", activity_views.agency_hmis_accounts, name="agency-hmis-accounts"),
    path("my-access/", views.my_access, name="my-access"),
    path("agencies/<slug:slug>/users/", views.agency_users, name="agency-users"),
    path("agencies/<slug:slug>/users/new/", views.access_request_new, name="access-request-new"),
    path("agencies/<slug:slug>/users/<int:pk>/", views.access_request_detail, name="access-request-detail"),
    path("access-approvals/", views.access_approvals, name="access-approvals"),
    path("access-approvals/<int:pk>/approve/", views.access_request_approve, name="access-request-approve"),
    path("access-approvals/<int:pk>/decline/", views.access_request_decline, name="access-request-decline"),
    path("provisioning/", views.provisioning_queue, name="provisioning-queue"),
    path("provisioning/sla/", views.provisioning_sla, name="provisioning-sla"),
]
