from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebConfig(AppConfig):
    name = "safetynet.web"
    label = "web"

    def ready(self) -> None:
        from . import hooks

        hooks.register_nav("home", _("Dashboard"), "home", order=0)
        hooks.register_nav("households", _("Households"), "household_search", order=10)
        hooks.register_nav("users", _("Users"), "user_list", order=900, roles=["admin"])
