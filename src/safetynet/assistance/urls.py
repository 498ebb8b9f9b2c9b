from django.urls import path

from . import views

app_name = "assistance"

urlpatterns = [
    path("", views.index, name="index"),
    path("applications/", views.application_list, name="applications"),
    path("applications/new/", views.application_new, name="application_new"),
    path("applications/<int:pk>/", views.application_detail, name="application"),
    path("applications/<int:pk>/<slug:step>/", views.application_step, name="application_step"),
    path("register/", views.separate_register, name="register"),
    path("enrolments/", views.enrolment_list, name="enrolments"),
    path("enrolments/<int:pk>/", views.enrolment_detail, name="enrolment"),
    path("enrolments/<int:pk>/<slug:action>/", views.enrolment_action, name="enrolment_action"),
    path("reviews/", views.reviews_due, name="reviews"),
    path("deaths/", views.proposals, name="proposals"),
    path("deaths/<int:pk>/process/", views.proposal_process, name="proposal_process"),
    path("rolls/", views.roll_list, name="rolls"),
    path("rolls/<int:pk>/", views.roll_detail, name="roll"),
    path("rolls/<int:pk>/export/", views.roll_export, name="roll_export"),
    path("rolls/<int:pk>/<slug:action>/", views.roll_action, name="roll_action"),
    path("lines/<int:pk>/fail/", views.line_fail, name="line_fail"),
    path("adjustments/new/", views.adjustment_new, name="adjustment_new"),
]
