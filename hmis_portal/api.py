"""The API's router (SPEC §5): everything under /api/v1/.

Each app offers its endpoints here; the read API's collections register on
`router` (`router.register("agencies", ...)`). Authentication (API keys),
scopes and the rate limit are settings.REST_FRAMEWORK's defaults; the schema
is served at /api/v1/openapi.json."""

from django.urls import path
from drf_spectacular.views import SpectacularJSONAPIView
from rest_framework.routers import SimpleRouter

from hmis_access.api import AccessRequestCollection
from hmis_accounts.api import HMISAccountCollection, HMISLoginBatchView
from onboarding.api import AgencyCollection, ProgramCollection
from partnerships.api import PartnershipCollection
from referrals.api import ReferralCountCollection

app_name = "api"

router = SimpleRouter()
router.register("agencies", AgencyCollection, basename="agency")
router.register("programs", ProgramCollection, basename="program")
router.register("access-requests", AccessRequestCollection, basename="access-request")
router.register("hmis-accounts", HMISAccountCollection, basename="hmis-account")
router.register("referral-counts", ReferralCountCollection, basename="referral-count")
router.register("partnerships", PartnershipCollection, basename="partnership")

urlpatterns = [
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    path("hmis-logins/", HMISLoginBatchView.as_view(), name="hmis-logins"),
    *router.urls,
]
