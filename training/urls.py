from django.urls import path

from . import views

app_name = "training"

urlpatterns = [
    path("sessions/", views.sessions, name="sessions"),
    path("sessions/<int:pk>/register/", views.session_register, name="session-register"),
    path("registrations/<int:pk>/cancel/", views.registration_cancel, name="registration-cancel"),
    path("registrations/<int:pk>/calendar.ics", views.registration_ics, name="registration-ics"),
    path("certificates/upload/", views.certificate_upload, name="certificate-upload"),
    path("certificates/<int:pk>/document/", views.certificate_document, name="certificate-document"),
    path("forms/<slug:code>/upload/", views.form_upload, name="form-upload"),
    path("forms/submissions/<int:pk>/document/", views.form_document, name="form-document"),
    path("forms/<slug:code>/people/<int:user_id>/", views.form_person, name="form-person"),
    path("forms/signatures/<int:pk>/document/", views.signature_document, name="signature-document"),
    path("forms/blank/<int:pk>/", views.form_template_document, name="form-template-document"),
]
