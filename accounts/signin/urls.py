from django.urls import path

from . import oidc, views

urlpatterns = [
    # Sign-in with the CoC's identity provider (404 unless configured).
    path("sign-in/provider/", oidc.ProviderSignIn.as_view(), name="signin-provider"),
    path("sign-in/provider/callback/", oidc.provider_callback, name="signin-provider-callback"),
    path("two-factor/", views.two_factor, name="two-factor"),
    path("two-factor/setup/", views.two_factor_setup, name="two-factor-setup"),
    path("two-factor/verify/", views.two_factor_verify, name="two-factor-verify"),
    path("two-factor/recovery-codes/", views.recovery_codes_renew, name="two-factor-recovery-codes"),
    path("two-factor/turn-off/", views.two_factor_disable, name="two-factor-disable"),
    path("session/stay-signed-in/", views.stay_signed_in, name="stay-signed-in"),
]
