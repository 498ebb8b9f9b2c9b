"""Load bench registry Parquet files into the operational database with raw bulk SQL
(PostgreSQL: COPY; SQLite: executemany), so the screen's snapshot reads a realistic registry.

Setup only — not measured. Run inside a Django-configured process.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

CHUNK = 50_000


def _copy_or_insert(cursor, vendor: str, table: str, columns: list[str], data: pa.Table) -> None:
    if vendor == "postgresql":
        for batch in data.to_batches(500_000):
            sink = pa.BufferOutputStream()
            pacsv.write_csv(
                pa.Table.from_batches([batch]),
                sink,
                write_options=pacsv.WriteOptions(include_header=False),
            )
            with cursor.cursor.copy(
                f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)"
            ) as copy:
                copy.write(sink.getvalue().to_pybytes())
        return
    marks = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
    for batch in data.to_batches(CHUNK):
        cols = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        cursor.executemany(sql, list(zip(*cols, strict=True)))


def load_registry(data_dir: Path) -> dict:
    """Areas (townships, villages), households, persons and incomes from the bench files."""
    from django.db import connection, transaction

    from safetynet.areas.services import load_reference_counties

    load_reference_counties(actor=None)
    vendor = connection.vendor
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    hh = pq.read_table(data_dir / "households.parquet")
    n_h = hh.num_rows
    villages = pc.unique(hh.column("village_code")).to_pylist()
    townships = sorted({v[:9] for v in villages})
    counts = {}
    with transaction.atomic(), connection.cursor() as cursor:
        known = (
            {r[0] for r in cursor.execute("SELECT code FROM areas_area").fetchall()}
            if vendor != "postgresql"
            else None
        )
        if known is None:
            cursor.execute("SELECT code FROM areas_area")
            known = {r[0] for r in cursor.fetchall()}
        areas = [(t, f"乡镇{t[6:]}", 4, "", t[:6]) for t in townships if t not in known]
        areas += [(v, f"村{v[9:]}", 5, "", v[:9]) for v in sorted(villages) if v not in known]
        cursor.executemany(
            "INSERT INTO areas_area (code, name, level, former_codes, parent_id) VALUES (%s, %s, %s, %s, %s)",
            areas,
        )
        pk = pa.array(range(1, n_h + 1), pa.int64())
        households = pa.table(
            {
                "id": pk,
                "household_id": hh.column("household_id"),
                "village_id": hh.column("village_code"),
                "address": pa.array([""] * n_h),
                "registered_poor": hh.column("registered_poor"),
                "exit_year": hh.column("exit_year"),
                "relocated": hh.column("relocated"),
                "housing_grade": hh.column("housing_grade"),
                "water_secure": hh.column("water_secure"),
                "phone": pa.array([""] * n_h),
                "bank_account": pa.array([""] * n_h),
                "version": pa.array([1] * n_h, pa.int32()),
                "created_at": pa.array([now] * n_h),
                "updated_at": pa.array([now] * n_h),
            }
        )
        _copy_or_insert(cursor, vendor, "registry_household", households.column_names, households)
        counts["households"] = n_h
        del households

        def household_pk(ids: pa.ChunkedArray) -> pa.Array:
            # bench household ids are "B" + a 9-digit running number
            return pc.add(pc.cast(pc.utf8_slice_codeunits(ids, 1), pa.int64()), 1)

        persons = pq.read_table(data_dir / "persons.parquet")
        n_p = persons.num_rows
        blank = pa.array([""] * n_p)

        def text(col, source=persons):
            return pc.fill_null(source.column(col), "")

        table = pa.table(
            {
                "id_number": persons.column("id_number"),
                "name": persons.column("name"),
                "relation": persons.column("relation"),
                "sex": text("sex"),
                "birth_date": persons.column("birth_date"),
                "status": persons.column("status"),
                "education": blank,
                "in_school": persons.column("in_school"),
                "health": persons.column("health"),
                "disability_type": text("disability_type"),
                "disability_grade": persons.column("disability_grade"),
                "labour": persons.column("labour"),
                "employment": persons.column("employment"),
                "work_months": persons.column("work_months"),
                "medical_insured": persons.column("medical_insured"),
                "pension_insured": persons.column("pension_insured"),
                "adl_failed": persons.column("adl_failed"),
                "supporter_capable": persons.column("supporter_capable"),
                "phone": text("phone"),
                "version": pa.array([1] * n_p, pa.int32()),
                "created_at": pa.array([now] * n_p),
                "updated_at": pa.array([now] * n_p),
                "household_id": household_pk(persons.column("household_id")),
            }
        )
        if vendor != "postgresql":
            table = table.set_column(
                4, "birth_date", pc.cast(table.column("birth_date"), pa.string())
            )
        del persons
        _copy_or_insert(cursor, vendor, "registry_person", table.column_names, table)
        counts["persons"] = n_p
        del table

        incomes = pq.read_table(data_dir / "incomes.parquet")
        money = [c for c in incomes.column_names if c not in ("household_id", "year")]
        n_i = incomes.num_rows
        cols = {
            "household_id": household_pk(incomes.column("household_id")),
            "year": incomes.column("year"),
        }
        for c in money:
            cols[c] = (
                incomes.column(c)
                if vendor == "postgresql"
                else pc.cast(incomes.column(c), pa.string())
            )
        cols["version"] = pa.array([1] * n_i, pa.int32())
        cols["updated_at"] = pa.array([now] * n_i)
        table = pa.table(cols)
        _copy_or_insert(cursor, vendor, "registry_income", table.column_names, table)
        counts["incomes"] = n_i
    return counts
