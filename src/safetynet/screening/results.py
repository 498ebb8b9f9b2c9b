"""The engine-neutral results of a screen: Arrow tables, their Parquet files, and the CSV files.

Whatever engine evaluated the catalogue (DuckDB or Spark), its output is brought into these
schemas first; everything after that — merging an incremental run, storing findings, writing the
CSV files of formats/screen-output.md — works on them alone, which is what makes the files of two
engines byte-identical.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

MEASURE = pa.decimal128(18, 4)
AMOUNT = pa.int64()
TEXT_LIST = pa.list_(pa.string())

HOUSEHOLDS = pa.schema(
    [
        ("household_id", pa.string()),
        ("village_code", pa.string()),
        ("n", pa.int32()),
        ("net_income", MEASURE),
        ("pc_net_income", MEASURE),
        ("pc_month_income", MEASURE),
        ("flagged", pa.bool_()),
        ("category", pa.string()),
        ("level", pa.string()),
        ("rules", TEXT_LIST),
        ("risk_types", TEXT_LIST),
        ("already_monitored", pa.bool_()),
        ("dibao_eligible", pa.bool_()),
        ("dibao_edge", pa.bool_()),
        ("dibao_amount", AMOUNT),
        ("rigid_hardship", pa.bool_()),
        ("low_income", pa.bool_()),
    ]
)
TEKUN = pa.schema(
    [
        ("id_number", pa.string()),
        ("household_id", pa.string()),
        ("eligible", pa.bool_()),
        ("care_level", pa.string()),
        ("monthly_amount", AMOUNT),
    ]
)
SINGLE_PERSON = pa.schema(
    [("id_number", pa.string()), ("household_id", pa.string()), ("monthly_amount", AMOUNT)]
)
QUALITY = pa.schema(
    [
        ("check", pa.string()),
        ("household_id", pa.string()),
        ("id_number", pa.string()),
        ("message_zh", pa.string()),
        ("message_en", pa.string()),
        ("source", pa.string()),  # "engine" (the catalogue) or "programmes" (assistance checks)
    ]
)
EXPLANATIONS = pa.schema(
    [
        ("household_id", pa.string()),
        ("id_number", pa.string()),
        ("rule", pa.string()),
        ("zh", pa.string()),
        ("en", pa.string()),
        ("values", pa.string()),  # JSON object
        ("source", pa.string()),
        ("evidence", TEXT_LIST),  # department record ids
    ]
)
# The order of each result file: these columns first, then every other column (ties).
SORT_KEYS = {
    "households": ["household_id"],
    "tekun": ["id_number", "household_id"],
    "single_person": ["id_number", "household_id"],
    "quality": ["check", "household_id", "id_number", "message_zh", "source"],
    "explanations": ["household_id", "rule", "id_number"],
}
SORT_THREADS = 2
WRITE_THREADS = 2
SCHEMAS = {
    "households": HOUSEHOLDS,
    "tekun": TEKUN,
    "single_person": SINGLE_PERSON,
    "quality": QUALITY,
    "explanations": EXPLANATIONS,
}


def conform(table: pa.Table | None, schema: pa.Schema) -> pa.Table:
    """Select and cast a table to `schema`; missing columns become NULL; None → empty."""
    if table is None:
        return schema.empty_table()
    columns = []
    for f in schema:
        if f.name in table.column_names:
            col = table.column(f.name)
            if not col.type.equals(f.type):
                col = col.cast(f.type)
            columns.append(col)
        else:
            columns.append(pa.nulls(table.num_rows, f.type))
    return pa.Table.from_arrays(columns, schema=schema)


def sql_text(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _write_parquet(directory: Path, name: str, table: pa.Table) -> None:
    pq.write_table(table, directory / f"{name}.parquet", compression="zstd")


def _sorted_table(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> pa.Table:
    """`table` in its fixed order: its key columns first, every other column breaking ties."""
    keys = SORT_KEYS[name] + [c for c in table.column_names if c not in SORT_KEYS[name]]
    con.register("t", table)
    try:
        order = ", ".join(f'"{k}" ASC NULLS LAST' for k in keys)
        return conform(con.sql(f"SELECT * FROM t ORDER BY {order}").to_arrow_table(), SCHEMAS[name])
    finally:
        con.unregister("t")


@dataclass
class ScreenResults:
    households: pa.Table
    tekun: pa.Table
    single_person: pa.Table
    quality: pa.Table
    explanations: pa.Table
    timings: dict = field(default_factory=dict, compare=False)

    @classmethod
    def from_tables(cls, **tables: pa.Table | None) -> ScreenResults:
        return cls(**{name: conform(tables.get(name), SCHEMAS[name]) for name in SCHEMAS})

    def tables(self) -> dict[str, pa.Table]:
        return {name: getattr(self, name) for name in SCHEMAS}

    def write(self, directory: Path) -> None:
        """One Parquet file per table, written WRITE_THREADS at a time (largest first): a
        file is encoded on one core, and at 10M persons the five took 4.4 s one after the
        other, 2.2 s two at a time."""
        directory.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(max_workers=WRITE_THREADS) as pool:
            futures = [
                pool.submit(_write_parquet, directory, name, table)
                for name, table in self._largest_first()
            ]
            for future in futures:
                future.result()  # the first failure is raised

    @classmethod
    def read(cls, directory: Path) -> ScreenResults:
        return cls.from_tables(
            **{name: pq.read_table(directory / f"{name}.parquet") for name in SCHEMAS}
        )

    @classmethod
    def read_carried(
        cls, directory: Path, changed: pa.Array, current: pa.Array, *, threads: int = SORT_THREADS
    ) -> ScreenResults:
        """The rows of the results in `directory` (a base run's) that an incremental run
        carries over: those of households neither `changed` nor gone (not in `current`).
        Programme checks are not carried: each run makes them again.

        Read and filtered by DuckDB on both cores: at 10M persons the base files hold 10M
        person rows, and reading them whole before filtering them in Arrow took 9 s."""
        files = {name: sql_text(str(directory / f"{name}.parquet")) for name in SCHEMAS}
        con = duckdb.connect()
        try:
            con.execute(f"SET threads = {threads}")
            con.register("changed", pa.table({"household_id": pa.array(changed, pa.string())}))
            con.register("current", pa.table({"household_id": pa.array(current, pa.string())}))
            con.execute(
                "CREATE TEMP TABLE dropped AS SELECT household_id FROM changed UNION"
                f" SELECT b.household_id FROM read_parquet({files['households']}) AS b"
                " ANTI JOIN current AS c ON b.household_id = c.household_id"
            )
            out = {}
            for name, path in files.items():
                where = " WHERE t.source = 'engine'" if name == "quality" else ""
                # an anti join keeps rows without a household id (NOT IN would drop them all
                # as soon as one dropped id is NULL)
                out[name] = con.sql(
                    f"SELECT t.* FROM read_parquet({path}) AS t"
                    " ANTI JOIN dropped AS d ON t.household_id = d.household_id" + where
                ).to_arrow_table()
        finally:
            con.close()
        return cls.from_tables(**out)

    @staticmethod
    def concat(*parts: ScreenResults) -> ScreenResults:
        return ScreenResults(
            **{name: pa.concat_tables([getattr(p, name) for p in parts]) for name in SCHEMAS}
        )

    def sorted(self) -> ScreenResults:
        """Rows in a fixed order, so the Parquet files of two engines are comparable too.

        Sorted by DuckDB (both cores, within its memory limit): at region scale the person
        tables have millions of rows. Each table's key columns come first and its remaining
        columns break ties, so the order never depends on the order rows arrived in.
        """
        con = duckdb.connect()
        try:
            con.execute(f"SET threads = {SORT_THREADS}")
            out = {name: _sorted_table(con, name, table) for name, table in self.tables().items()}
        finally:
            con.close()
        return ScreenResults(**out)

    def write_sorted(self, directory: Path) -> None:
        """What `sorted().write(directory)` writes, one table at a time (largest first): besides
        the results themselves, only one sorted table is held at a time."""
        directory.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect()
        try:
            con.execute(f"SET threads = {SORT_THREADS}")
            for name, table in self._largest_first():
                _write_parquet(directory, name, _sorted_table(con, name, table))
        finally:
            con.close()

    def _largest_first(self) -> list[tuple[str, pa.Table]]:
        return sorted(self.tables().items(), key=lambda item: -item[1].nbytes)

    def counts(self) -> dict[str, int]:
        h = self.households
        warned = pc.greater(pc.list_value_length(h.column("rules")), 0)
        return {
            "households": h.num_rows,
            "warnings": int(pc.sum(pc.cast(pc.fill_null(warned, False), pa.int64())).as_py() or 0),
            "flagged": int(
                pc.sum(pc.cast(pc.fill_null(h.column("flagged"), False), pa.int64())).as_py() or 0
            ),
            "dibao_eligible": int(
                pc.sum(pc.cast(pc.fill_null(h.column("dibao_eligible"), False), pa.int64())).as_py()
                or 0
            ),
            "tekun_eligible": int(
                pc.sum(
                    pc.cast(pc.fill_null(self.tekun.column("eligible"), False), pa.int64())
                ).as_py()
                or 0
            ),
            "single_person": self.single_person.num_rows,
            "quality": self.quality.num_rows,
        }


# The CSV files of formats/screen-output.md. Each is a SELECT over the result tables; DuckDB
# only formats and sorts (binary collation, total order over all columns) so the bytes depend
# on the results alone, never on the engine that computed them.
CSV_QUERIES = {
    "warnings.csv": """
        SELECT household_id, village_code, NULLIF(category, '') AS category,
               NULLIF(level, '') AS level,
               NULLIF(array_to_string(list_sort(list_distinct(rules)), ';'), '') AS rules,
               NULLIF(array_to_string(list_sort(list_distinct(risk_types)), ';'), '') AS risk_types,
               coalesce(already_monitored, false) AS already_monitored
        FROM households WHERE len(coalesce(rules, [])) > 0
        ORDER BY household_id""",
    "eligibility.csv": """
        SELECT household_id, n,
               CAST(pc_net_income AS DECIMAL(18, 2)) AS pc_net_income,
               CAST(pc_month_income AS DECIMAL(18, 2)) AS pc_month_income,
               coalesce(dibao_eligible, false) AS dibao_eligible,
               coalesce(dibao_edge, false) AS dibao_edge,
               coalesce(dibao_amount, 0) AS dibao_amount,
               coalesce(rigid_hardship, false) AS rigid_hardship
        FROM households ORDER BY household_id""",
    "tekun.csv": """
        SELECT id_number, household_id, coalesce(eligible, false) AS eligible,
               NULLIF(care_level, '') AS care_level, coalesce(monthly_amount, 0) AS monthly_amount
        FROM tekun ORDER BY id_number, household_id, eligible, care_level NULLS FIRST,
                 monthly_amount""",
    "single_person.csv": """
        SELECT id_number, household_id, monthly_amount
        FROM single_person ORDER BY id_number, household_id, monthly_amount""",
    "quality.csv": """
        SELECT "check", NULLIF(household_id, '') AS household_id,
               NULLIF(id_number, '') AS id_number, NULLIF(message_zh, '') AS message
        FROM quality ORDER BY "check", household_id NULLS FIRST, id_number NULLS FIRST, message""",
}


def write_csvs(results: ScreenResults, out_dir: Path) -> list[Path]:
    """Write the five CSV files (UTF-8, header row, sorted, fixed formatting)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        con.execute("SET threads = 2")
        for name, table in results.tables().items():
            con.register(name, table)
        paths = []
        for file_name, query in CSV_QUERIES.items():
            path = out_dir / file_name
            con.execute(f"COPY ({query}) TO {sql_text(str(path))} (HEADER, DELIMITER ',')")
            paths.append(path)
        return paths
    finally:
        con.close()
