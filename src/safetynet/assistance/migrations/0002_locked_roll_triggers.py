"""Database triggers that keep an approved payment roll and its lines unchangeable.

The services already refuse; these triggers make the database refuse too, whatever code path
(a shell, a bulk update, a bug) tries to change money that has been approved.

Deletes: PostgreSQL refuses them by trigger (Django's flush uses TRUNCATE, which row triggers
do not see). SQLite empties tables with DELETE when Django flushes a test database, in no fixed
order, so there the ORM refuses deletes instead (RollLine's queryset) and the triggers cover
inserts and updates.
"""

from django.db import migrations

SQLITE = [
    """CREATE TRIGGER assistance_rollline_locked_insert BEFORE INSERT ON assistance_rollline
       WHEN (SELECT status FROM assistance_roll WHERE id = NEW.roll_id) = 'approved'
       BEGIN SELECT RAISE(ABORT, 'payment roll is approved and locked'); END""",
    """CREATE TRIGGER assistance_rollline_locked_update BEFORE UPDATE ON assistance_rollline
       WHEN (SELECT status FROM assistance_roll WHERE id = OLD.roll_id) = 'approved'
         OR (SELECT status FROM assistance_roll WHERE id = NEW.roll_id) = 'approved'
       BEGIN SELECT RAISE(ABORT, 'payment roll is approved and locked'); END""",
    """CREATE TRIGGER assistance_roll_locked_update BEFORE UPDATE ON assistance_roll
       WHEN OLD.status = 'approved'
       BEGIN SELECT RAISE(ABORT, 'payment roll is approved and locked'); END""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS assistance_rollline_locked_insert",
    "DROP TRIGGER IF EXISTS assistance_rollline_locked_update",
    "DROP TRIGGER IF EXISTS assistance_roll_locked_update",
]

POSTGRES = [
    """CREATE OR REPLACE FUNCTION assistance_rollline_locked() RETURNS trigger AS $$
       DECLARE locked boolean;
       BEGIN
         IF TG_OP IN ('UPDATE', 'DELETE') THEN
           SELECT status = 'approved' INTO locked FROM assistance_roll WHERE id = OLD.roll_id;
           IF locked THEN RAISE EXCEPTION 'payment roll is approved and locked'; END IF;
         END IF;
         IF TG_OP IN ('UPDATE', 'INSERT') THEN
           SELECT status = 'approved' INTO locked FROM assistance_roll WHERE id = NEW.roll_id;
           IF locked THEN RAISE EXCEPTION 'payment roll is approved and locked'; END IF;
         END IF;
         IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
         RETURN NEW;
       END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER assistance_rollline_locked BEFORE INSERT OR UPDATE OR DELETE
       ON assistance_rollline FOR EACH ROW EXECUTE FUNCTION assistance_rollline_locked()""",
    """CREATE OR REPLACE FUNCTION assistance_roll_locked() RETURNS trigger AS $$
       BEGIN
         IF OLD.status = 'approved' THEN
           RAISE EXCEPTION 'payment roll is approved and locked';
         END IF;
         IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
         RETURN NEW;
       END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER assistance_roll_locked BEFORE UPDATE OR DELETE
       ON assistance_roll FOR EACH ROW EXECUTE FUNCTION assistance_roll_locked()""",
]
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS assistance_rollline_locked ON assistance_rollline",
    "DROP FUNCTION IF EXISTS assistance_rollline_locked()",
    "DROP TRIGGER IF EXISTS assistance_roll_locked ON assistance_roll",
    "DROP FUNCTION IF EXISTS assistance_roll_locked()",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        statements = statements_by_vendor.get(schema_editor.connection.vendor)
        if statements is None:
            raise RuntimeError(
                f"no locked-roll triggers for database {schema_editor.connection.vendor}"
            )
        for sql in statements:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("assistance", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE, "postgresql": POSTGRES}),
            _run({"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}),
        ),
    ]
