from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django_otp.admin import OTPAdminSite

from hmis_portal.core import views as core_views

if settings.ADMIN_REQUIRES_OTP:
    # CoC staff sign in to the admin with a second factor (django-otp).
    admin.site.__class__ = OTPAdminSite
admin.site.site_header = f"{settings.PORTAL_NAME} — CoC staff"
admin.site.site_title = settings.PORTAL_NAME
admin.site.index_title = "CoC staff administration"

urlpatterns = [
    path("", include("accounts.urls")),
    path("", include("hmis_access.urls")),
    path("onboarding/", include("onboarding.urls")),
    path("training/", include("training.urls")),
    path("referrals/", include("referrals.urls")),
    path("healthz", core_views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]

handler403 = "hmis_portal.core.views.permission_denied"
handler404 = "hmis_portal.core.views.page_not_found"
handler500 = "hmis_portal.core.views.server_error"
