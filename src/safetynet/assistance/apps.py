from django.apps import AppConfig


class AssistanceConfig(AppConfig):
    name = "safetynet.assistance"
    label = "assistance"
    verbose_name = "社会救助 / Social assistance"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from safetynet.areas import scope

        # How each area-bound model reaches a village code (or a county code for rolls, which
        # only county-level users and above can see).
        for label, path in {
            "assistance.application": "village_code",
            "assistance.enrolment": "village_code",
            "assistance.enrolmentmember": "enrolment__village_code",
            "assistance.amountperiod": "enrolment__village_code",
            "assistance.review": "enrolment__village_code",
            "assistance.changeproposal": "enrolment__village_code",
            "assistance.careassessment": "person__household__village__code",
            "assistance.roll": "county_code",
            "assistance.rollline": "village_code",
            "assistance.adjustment": "village_code",
            "assistance.paymentfailure": "line__village_code",
            "assistance.paymentoverride": "enrolment__village_code",
        }.items():
            scope.register(label, path)

        try:
            from safetynet.web import hooks
        except ImportError:  # the web layer is optional for the CLI
            return
        from . import panels

        staff = ("village", "township", "county", "region", "admin")
        hooks.register_nav(
            "assistance",
            _("Social assistance"),
            "assistance:index",
            order=30,
            roles=staff,
            icon="🤝",
        )
        hooks.register_profile_panel(
            "assistance",
            _("Social assistance"),
            "assistance/_profile_panel.html",
            context=panels.profile_context,
            order=45,
            roles=staff,
        )
        hooks.register_timeline_source("assistance", panels.timeline_source)
