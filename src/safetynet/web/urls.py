from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.home, name="home"),
    path("households/", views.household_search, name="household_search"),
    path("households/export.csv", views.household_export, name="household_export"),
    path("households/<str:household_id>/", views.household_profile, name="household_profile"),
    path("households/<str:household_id>/reveal/", views.household_reveal, name="household_reveal"),
    path("households/<str:household_id>/assess/", views.household_assess, name="household_assess"),
    path("users/", views.user_list, name="user_list"),
    path("users/new/", views.user_edit, name="user_create"),
    path("users/<int:user_id>/", views.user_edit, name="user_edit"),
]
