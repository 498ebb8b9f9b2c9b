from django.apps import AppConfig


class FeedsConfig(AppConfig):
    name = "safetynet.feeds"
    label = "feeds"
    verbose_name = "部门数据 / Department feeds"

    def ready(self) -> None:
        from safetynet.areas.scope import register

        # Review decisions are seen by the people of the person's village and above.
        register("feeds.linkdecision", "village_code")
