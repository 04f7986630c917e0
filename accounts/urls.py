from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views
from .signin.views import SignOut
from .forms import EmailAuthenticationForm, PortalPasswordResetForm

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=EmailAuthenticationForm, redirect_authenticated_user=True),
        name="login",
    ),
    # Before django.contrib.auth's: signing out also ends the identity provider's session.
    path("accounts/logout/", SignOut.as_view(), name="logout"),
    path("accounts/password_reset/", auth_views.PasswordResetView.as_view(form_class=PortalPasswordResetForm),
         name="password_reset"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("agencies/", views.search, name="agency-search"),
    path("agencies/<slug:slug>/", views.organization_detail, name="organization-detail"),
    path("agencies/<slug:slug>/invite/", views.organization_invite, name="organization-invite"),
    path("invitations/<int:pk>/resend/", views.invitation_resend, name="invitation-resend"),
    path("invitations/<int:pk>/revoke/", views.invitation_revoke, name="invitation-revoke"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation-accept"),
    path("api-keys/", views.api_keys, name="api-keys"),
    path("api-keys/<int:pk>/rotate/", views.api_key_rotate, name="api-key-rotate"),
    path("api-keys/<int:pk>/revoke/", views.api_key_revoke, name="api-key-revoke"),
    path("webhooks/", views.webhooks, name="webhooks"),
    path("webhooks/<int:pk>/", views.webhook_detail, name="webhook-detail"),
    path("webhooks/<int:pk>/pause/", views.webhook_pause, name="webhook-pause"),
    path("webhooks/<int:pk>/resume/", views.webhook_resume, name="webhook-resume"),
    path("webhooks/<int:pk>/rotate/", views.webhook_rotate, name="webhook-rotate"),
    path("webhooks/<int:pk>/delete/", views.webhook_delete, name="webhook-delete"),
    path("webhooks/deliveries/<int:pk>/replay/", views.webhook_replay, name="webhook-replay"),
]
