from django.urls import path

from . import views

app_name = "onboarding"

urlpatterns = [
    path("participation-status/", views.status_list, name="status-list"),
    path("participation-status.xlsx", views.status_list_xlsx, name="status-list-xlsx"),
    path("participation-status.csv", views.status_list_csv, name="status-list-csv"),
    path("queue/", views.coc_queue, name="coc-queue"),
    path("join/", views.join, name="join"),
    path("join-requests/<int:pk>/", views.join_request, name="join-request"),
    path("agencies/<slug:slug>/", views.participation, name="participation"),
    path("agencies/<slug:slug>/agreement/upload/", views.agreement_upload, name="agreement-upload"),
    path("agencies/<slug:slug>/ces-roles/", views.ces_roles, name="ces-roles"),
    path("agencies/<slug:slug>/programs/request/", views.program_request, name="program-request"),
    path("agreements/<int:pk>/", views.agreement_detail, name="agreement-detail"),
    path("agreements/blank/", views.agreement_template, name="agreement-template"),
    path("agreements/<int:pk>/submit/", views.agreement_submit, name="agreement-submit"),
    path("agreements/<int:pk>/terminate/", views.agreement_terminate, name="agreement-terminate"),
    path("agreements/<int:pk>/copies/<int:version>/", views.agreement_copy, name="agreement-copy"),
    path("programs/<int:pk>/", views.program_detail, name="program-detail"),
    path("programs/<int:pk>/answer/", views.program_answer, name="program-answer"),
    path("programs/<int:pk>/confirm/", views.program_confirm, name="program-confirm"),
    path("programs/<int:pk>/report-problem/", views.program_report_problem, name="program-report-problem"),
]
