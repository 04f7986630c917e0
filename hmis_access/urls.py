from django.urls import path

from . import views

urlpatterns = [
    path("my-access/", views.my_access, name="my-access"),
    path("agencies/<slug:slug>/users/", views.agency_users, name="agency-users"),
    path("agencies/<slug:slug>/users/new/", views.access_request_new, name="access-request-new"),
    path("agencies/<slug:slug>/users/<int:pk>/", views.access_request_detail, name="access-request-detail"),
    path("access-approvals/", views.access_approvals, name="access-approvals"),
    path("access-approvals/<int:pk>/approve/", views.access_request_approve, name="access-request-approve"),
    path("access-approvals/<int:pk>/decline/", views.access_request_decline, name="access-request-decline"),
    path("provisioning/", views.provisioning_queue, name="provisioning-queue"),
    path("provisioning/sla/", views.provisioning_sla, name="provisioning-sla"),
    path("provisioning/accounts/<int:pk>/retry/", views.hmis_provisioning_retry, name="hmis-provisioning-retry"),
]
