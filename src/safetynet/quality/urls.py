from django.urls import path

from . import views

app_name = "quality"

urlpatterns = [
    path("", views.findings, name="findings"),
    path("<int:finding_id>/", views.finding_detail, name="finding"),
    path("<int:finding_id>/assign/", views.finding_assign, name="assign"),
    path("<int:finding_id>/rectify/", views.finding_rectify, name="rectify"),
]
