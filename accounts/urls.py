from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import access_views, activity_views, views
from .forms import EmailAuthenticationForm

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=EmailAuthenticationForm, redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("agencies/<slug:slug>/", views.organization_detail, name="organization-detail"),
    # HMIS account activity (seed 002)
    path("hmis-account/", activity_views.hmis_account_status, name="hmis-account-status"),
    path("hmis-account/reminders/", activity_views.hmis_account_reminders, name="hmis-account-reminders"),
    path("hmis-account/calendar.ics", activity_views.hmis_account_calendar, name="hmis-account-calendar"),
    path("hmis-account/calendar/<str:token>.ics", activity_views.hmis_account_calendar_feed,
         name="hmis-account-calendar-feed"),
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
    path("my-access/", access_views.my_access, name="my-access"),
    path("agencies/<slug:slug>/users/", access_views.agency_users, name="agency-users"),
    path("agencies/<slug:slug>/users/new/", access_views.access_request_new, name="access-request-new"),
    path("agencies/<slug:slug>/users/<int:pk>/", access_views.access_request_detail, name="access-request-detail"),
    path("provisioning/", access_views.provisioning_queue, name="provisioning-queue"),
    path("provisioning/sla/", access_views.provisioning_sla, name="provisioning-sla"),
]
