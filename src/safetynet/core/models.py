from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """Append-only record of every change and every view of unmasked personal data.

    Rows are written by `safetynet.core.audit.record` and never updated or deleted.

    Indexes serve the queries that read the trail: an object's history, e.g. a household's
    timeline (object_type, object_id), the changes since a time (`at`) and a user's rows (the
    actor; only rows that have one, so the many rows of commands and imports cost nothing). An
    import writes hundreds of thousands of rows and every index is maintained for each of them,
    so the columns no query looks rows up by (action, area_code, object_id alone) have none.
    """

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # see Meta.indexes: rows without an actor (commands) are not indexed
    )
    actor_label = models.CharField(
        max_length=150, help_text="user name, or cli:<login> for commands"
    )
    action = models.CharField(max_length=40)
    object_type = models.CharField(max_length=60)
    object_id = models.CharField(max_length=64)
    area_code = models.CharField(max_length=12, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"]),
            models.Index(
                fields=["actor"],
                condition=models.Q(actor__isnull=False),
                name="core_audit_actor_set_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.object_type}:{self.object_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise RuntimeError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RuntimeError("audit events are append-only")
