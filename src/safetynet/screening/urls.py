from django.urls import path

from . import views

app_name = "screening"

urlpatterns = [
    path("", views.runs, name="runs"),
    path("<int:run_id>/", views.run_detail, name="run"),
    path("<int:run_id>/progress/", views.run_progress, name="progress"),
]
