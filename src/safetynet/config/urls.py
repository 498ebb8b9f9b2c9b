from django.urls import include, path

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("assistance/", include("safetynet.assistance.urls")),
    path("monitoring/", include("safetynet.monitoring.urls")),
    path("quality/", include("safetynet.quality.urls")),
    path("reports/", include("safetynet.reports.urls")),
    path("screening/", include("safetynet.screening.urls")),
    path("", include("safetynet.web.urls")),
]
