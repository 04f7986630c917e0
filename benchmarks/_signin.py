"""A demo persona signed in for a benchmark: a session that has passed the
second factor too (a confirmed authenticator named `device_name`), as CoC
staff must have. Call after django.setup()."""


def signed_in_client(email: str, device_name: str):
    from django.contrib.auth import get_user_model
    from django.test import Client, RequestFactory
    from django_otp import login as otp_login
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = get_user_model().objects.get(email=email)
    client = Client()
    client.force_login(user)
    device, _ = TOTPDevice.objects.get_or_create(user=user, name=device_name, defaults={"confirmed": True})
    session = client.session
    request = RequestFactory().get("/")
    request.session, request.user = session, user
    otp_login(request, device)
    session.save()
    return client
