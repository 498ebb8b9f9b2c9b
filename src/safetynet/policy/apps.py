from django.apps import AppConfig


class PolicyConfig(AppConfig):
    name = "safetynet.policy"
    label = "policy"

    def ready(self) -> None:
        from safetynet.areas.scope import register

        # An override is visible to users whose area contains the override's area.
        register("policy.parameteroverride", "area_code")
