from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import access_views, views
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
    path("my-access/", access_views.my_access, name="my-access"),
    path("agencies/<slug:slug>/users/", access_views.agency_users, name="agency-users"),
    path("agencies/<slug:slug>/users/new/", access_views.access_request_new, name="access-request-new"),
    path("agencies/<slug:slug>/users/<int:pk>/", access_views.access_request_detail, name="access-request-detail"),
    path("provisioning/", access_views.provisioning_queue, name="provisioning-queue"),
    path("provisioning/sla/", access_views.provisioning_sla, name="provisioning-sla"),
]
