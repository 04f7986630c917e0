from django.urls import path

from . import views

app_name = "partnerships"

urlpatterns = [
    path("", views.partnership_list, name="list"),
    path("agencies/<slug:slug>/", views.agency, name="agency"),
    path("agencies/<slug:slug>/propose/", views.propose, name="propose"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/moa/", views.moa, name="moa"),
    path("<int:pk>/accept/", views.accept, name="accept"),
    path("<int:pk>/decline/", views.decline, name="decline"),
    path("<int:pk>/end/", views.end, name="end"),
    path("<int:pk>/batches/", views.batch_new, name="batch-new"),
    path("batches/<int:pk>/entered/", views.batch_entered, name="batch-entered"),
]
