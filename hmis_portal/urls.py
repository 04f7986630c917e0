from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from hmis_portal.core import views as core_views

# The admin needs the second factor like every portal page: the sign-in
# middleware (accounts/signin) asks for it before any view runs.
admin.site.site_header = f"{settings.PORTAL_NAME} — CoC staff"
admin.site.site_title = settings.PORTAL_NAME
admin.site.index_title = "CoC staff administration"

urlpatterns = [
    path("", include("accounts.urls")),
    path("", include("hmis_access.urls")),
    path("", include("hmis_accounts.urls")),
    path("", include("accounts.signin.urls")),
    path("onboarding/", include("onboarding.urls")),
    path("training/", include("training.urls")),
    path("referrals/", include("referrals.urls")),
    path("partnerships/", include("partnerships.urls")),
    path("api/v1/", include("hmis_portal.api")),
    path("healthz", core_views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    # Browsers and feed readers ask for /favicon.ico whatever the page says.
    path("favicon.ico", core_views.favicon),
]

handler403 = "hmis_portal.core.views.permission_denied"
handler404 = "hmis_portal.core.views.page_not_found"
handler500 = "hmis_portal.core.views.server_error"
