from django.urls import path

from . import views

app_name = "monitoring"

urlpatterns = [
    path("", views.my_work, name="my_work"),
    path("warnings/", views.warnings, name="warnings"),
    path("warnings/dispatch/", views.warnings_dispatch, name="warnings_dispatch"),
    path("warnings/<int:finding_id>/", views.warning_detail, name="warning"),
    path("cases/", views.cases, name="cases"),
    path("cases/new/", views.case_new, name="case_new"),
    path("cases/<int:case_id>/", views.case_detail, name="case"),
    path("cases/<int:case_id>/readiness/", views.case_readiness, name="case_readiness"),
    path("cases/<int:case_id>/act/<str:action>/", views.case_action, name="case_action"),
    path("cases/<int:case_id>/notices/<int:notice_id>/", views.notice_print, name="notice_print"),
]
