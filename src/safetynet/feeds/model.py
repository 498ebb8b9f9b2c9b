"""The Fellegi–Sunter model of probabilistic identity linkage, run by Splink.

Records without a usable ID number are compared with registry persons on name (as characters
and as pinyin), birth date, sex and village. The model is declared once here as Splink settings
and runs on Splink's DuckDB backend, or its Spark backend where a deployment runs Spark: the
backend is injected, the settings are the same.

Training needs no ground truth. The records linked exactly by ID number in the same run are
labelled pairs for free: their comparison vectors estimate the m probabilities; u probabilities
come from random record pairs. Below `MIN_LABELS` labelled pairs, or on a tiny registry, the
documented prior parameters below are used instead (they are also where training starts).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

MIN_LABELS = 200
MIN_REGISTRY = 2_000
MAX_LABELS = 20_000
U_MAX_PAIRS = 2_000_000
SEED = 20261129

RECORDS = "a_records"
REGISTRY = "b_registry"

# Columns both sides hand to Splink.
COLUMNS = [
    ("uid", pa.int64()),
    ("name", pa.string()),
    ("name_py", pa.string()),
    ("surname_py", pa.string()),
    ("birth", pa.string()),
    ("sex", pa.string()),
    ("village_code", pa.string()),
    ("township", pa.string()),
    ("county", pa.string()),
]

# Prior m and u probabilities per comparison level (null levels have none), in level order.
# Chosen from the structure of the data: ~2,000 villages per region, ~15,000 birth dates,
# surnames concentrated on a few hundred characters.
PRIORS: dict[str, list[tuple[float, float]]] = {
    "name": [(0.85, 0.002), (0.06, 0.0005), (0.03, 0.0005), (0.02, 0.03), (0.04, 0.967)],
    "birth": [(0.93, 0.00007), (0.05, 0.003), (0.02, 0.99693)],
    "sex": [(0.98, 0.5), (0.02, 0.5)],
    "village": [(0.90, 0.0005), (0.04, 0.005), (0.03, 0.04), (0.03, 0.9545)],
}


def _comparisons() -> list:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    def level(sql: str, label: str):
        return cll.CustomLevel(sql, label_for_charts=label, base_dialect_str="duckdb")

    name = cl.CustomComparison(
        output_column_name="name",
        comparison_description="name as characters and as pinyin",
        comparison_levels=[
            cll.NullLevel("name"),
            cll.ExactMatchLevel("name", term_frequency_adjustments=True),
            level("name_py_l = name_py_r", "same pinyin (homophone or traditional form)"),
            level(
                "abs(length(name_l) - length(name_r)) = 1 AND levenshtein(name_l, name_r) = 1",
                "one character dropped",
            ),
            level(
                "length(name_l) = length(name_r) AND levenshtein(name_l, name_r) = 1",
                "one character different",
            ),
            cll.ElseLevel(),
        ],
    )
    birth = cl.CustomComparison(
        output_column_name="birth",
        comparison_description="birth date (YYYYMMDD)",
        comparison_levels=[
            cll.NullLevel("birth"),
            cll.ExactMatchLevel("birth"),
            level("levenshtein(birth_l, birth_r) = 1", "one digit different"),
            cll.ElseLevel(),
        ],
    )
    sex = cl.CustomComparison(
        output_column_name="sex",
        comparison_levels=[cll.NullLevel("sex"), cll.ExactMatchLevel("sex"), cll.ElseLevel()],
    )
    village = cl.CustomComparison(
        output_column_name="village",
        comparison_description="village, township, county",
        comparison_levels=[
            cll.NullLevel("village_code"),
            cll.ExactMatchLevel("village_code"),
            level("township_l = township_r", "same township"),
            level("county_l = county_r", "same county"),
            cll.ElseLevel(),
        ],
    )
    return [name, birth, sex, village]


# Candidate pairs share one of these keys. Each survives one wrong or missing field: a name
# variant (birth date + county), a missing or wrong village (name pinyin + birth date), a wrong
# or missing birth date (name pinyin + county).
BLOCKING_KEYS: tuple[tuple[str, ...], ...] = (
    ("birth", "county"),
    ("name_py", "birth"),
    ("name_py", "county"),
)


def _blocking_rules() -> list:
    from splink import block_on

    return [block_on(*keys) for keys in BLOCKING_KEYS]


def settings_dict(*, prior_match: float, dialect: str = "duckdb") -> dict[str, Any]:
    """The untrained model as a Splink settings dictionary (SQL of `dialect`), with priors."""
    from splink import SettingsCreator

    creator = SettingsCreator(
        link_type="link_only",
        unique_id_column_name="uid",
        comparisons=_comparisons(),
        blocking_rules_to_generate_predictions=_blocking_rules(),
        probability_two_random_records_match=prior_match,
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )
    settings = creator.create_settings_dict(sql_dialect_str=dialect)
    for comparison in settings["comparisons"]:
        priors = iter(PRIORS[comparison["output_column_name"]])
        for lvl in comparison["comparison_levels"]:
            if lvl.get("is_null_level"):
                continue
            m, u = next(priors)
            lvl["m_probability"] = m
            lvl["u_probability"] = u
    return settings


@dataclass
class TrainedModel:
    settings: dict[str, Any]
    source: str  # "trained" or "prior"
    labels: int = 0
    notes: list[str] = field(default_factory=list)

    dialect: str = "duckdb"

    def to_json(self) -> str:
        return json.dumps(
            {
                "source": self.source,
                "labels": self.labels,
                "notes": self.notes,
                "dialect": self.dialect,
                "settings": self.settings,
            },
            ensure_ascii=False,
            indent=1,
            default=str,
        )

    @classmethod
    def from_json(cls, text: str) -> TrainedModel:
        data = json.loads(text)
        return cls(
            data["settings"],
            data["source"],
            data.get("labels", 0),
            data.get("notes", []),
            data.get("dialect", "duckdb"),
        )


def _quiet() -> None:
    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.ERROR)


class Backend:
    """Splink's database API for one engine, plus how to hand it Arrow tables."""

    name = "duckdb"

    def __init__(self, con=None):
        from splink.backends.duckdb import DuckDBAPI

        self.con = con
        self.api = DuckDBAPI(connection=con) if con is not None else DuckDBAPI()

    def table(self, data: pa.Table):
        return data

    def fresh(self) -> Backend:
        return type(self)(self.con)


class SparkBackend(Backend):
    name = "spark"

    def __init__(self, spark=None):
        from splink.backends.spark import SparkAPI

        self.spark = spark or get_spark()
        # `persist` keeps Splink's intermediate tables in executor memory: no checkpoint
        # directory needed, which suits local mode and small review-band workloads.
        partitions = int(self.spark.conf.get("spark.sql.shuffle.partitions", "4"))
        self.api = SparkAPI(
            spark_session=self.spark,
            break_lineage_method="persist",
            num_partitions_on_repartition=max(1, min(partitions, 200)),
        )

    def table(self, data: pa.Table):
        return self.spark.createDataFrame(data.to_pandas())

    def fresh(self) -> SparkBackend:
        return type(self)(self.spark)


def get_spark():
    """A local (or `settings.SPARK_MASTER`) Spark session; pyspark is imported only here."""
    import os

    from django.conf import settings
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return (
        SparkSession.builder.master(settings.SPARK_MASTER)
        .appName("safetynet-linkage")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )


def make_backend(name: str, con=None) -> Backend:
    if name == "duckdb":
        return Backend(con)
    if name == "spark":
        return SparkBackend()
    from safetynet.core.errors import ValidationFailed

    raise ValidationFailed(
        f"未知的比对引擎「{name}」（可用：duckdb、spark）",
        f"unknown linkage backend '{name}' (duckdb or spark)",
    )


def train(
    backend: Backend,
    *,
    labelled_records: pa.Table,
    registry: pa.Table,
    labels: pa.Table,
    prior_match: float,
    previous: TrainedModel | None = None,
) -> TrainedModel:
    """Estimate u by random sampling and m from the exact-ID pairs.

    A batch with too few exact pairs to learn from (e.g. a department that sends no ID numbers)
    reuses the model trained on an earlier batch, else the documented priors.
    """
    from splink import Linker

    _quiet()
    base = settings_dict(prior_match=prior_match, dialect=backend.name)
    n_labels = labels.num_rows
    if n_labels < MIN_LABELS or registry.num_rows < MIN_REGISTRY:
        note = f"labels={n_labels} (< {MIN_LABELS}) or registry={registry.num_rows} too small"
        if (
            previous is not None
            and previous.source == "trained"
            and previous.dialect == backend.name
            and registry.num_rows >= MIN_REGISTRY
        ):
            settings = json.loads(json.dumps(previous.settings))
            settings["probability_two_random_records_match"] = prior_match
            return TrainedModel(settings, "previous", previous.labels, [note], backend.name)
        return TrainedModel(base, "prior", n_labels, [note], backend.name)
    api = backend.fresh().api
    left = api.register(backend.table(labelled_records), table_name=f"{RECORDS}_train")
    right = api.register(backend.table(registry), table_name=f"{REGISTRY}_train")
    linker = Linker([left, right], base, log_level=None)
    linker.training.estimate_u_using_random_sampling(
        max_pairs=U_MAX_PAIRS, seed=SEED, min_count_per_level=None, num_chunks=1
    )
    label_rows = pa.table(
        {
            "source_dataset_l": pa.array([f"{RECORDS}_train"] * n_labels, pa.string()),
            "uid_l": labels.column("uid_l"),
            "source_dataset_r": pa.array([f"{REGISTRY}_train"] * n_labels, pa.string()),
            "uid_r": labels.column("uid_r"),
        }
    )
    label_df = api.register(backend.table(label_rows), table_name="a_labels")
    linker.training.estimate_m_from_pairwise_labels(label_df)
    trained = _settings_of(linker)
    trained["probability_two_random_records_match"] = prior_match
    _fill_unobserved(trained, base)
    return TrainedModel(trained, "trained", n_labels, [], backend.name)


def _settings_of(linker) -> dict[str, Any]:
    return linker._settings_obj.as_dict()


def _fill_unobserved(trained: dict, base: dict) -> None:
    """Levels never seen in training keep their prior value rather than having none."""
    for comp_t, comp_b in zip(trained["comparisons"], base["comparisons"], strict=True):
        for lvl_t, lvl_b in zip(
            comp_t["comparison_levels"], comp_b["comparison_levels"], strict=True
        ):
            if lvl_t.get("is_null_level"):
                continue
            for key in ("m_probability", "u_probability"):
                value = lvl_t.get(key)
                if (
                    value is None
                    or value == "level not observed in training dataset"
                    or (isinstance(value, float) and not value > 0)
                ):
                    lvl_t[key] = lvl_b[key]


def _to_arrow(scored) -> pa.Table:
    if hasattr(scored, "as_pyarrow_table"):
        return scored.as_pyarrow_table()
    return pa.Table.from_pandas(scored.as_pandas_dataframe(), preserve_index=False)


def predict(
    backend: Backend,
    model: TrainedModel,
    *,
    records: pa.Table,
    registry: pa.Table,
    threshold: float,
    name_tf: pa.Table | None = None,
) -> pa.Table:
    """Scored candidate pairs (rec_uid, reg_uid, match_probability, match_weight)."""
    from splink import Linker

    _quiet()
    api = backend.fresh().api
    left = api.register(backend.table(records), table_name=RECORDS)
    right = api.register(backend.table(registry), table_name=REGISTRY)
    linker = Linker([left, right], json.loads(json.dumps(model.settings)), log_level=None)
    if name_tf is not None:
        tf = api.register(backend.table(name_tf), table_name="a_name_tf")
        linker.table_management.register_term_frequency_lookup(tf, "name")
    scored = linker.inference.predict(threshold_match_probability=threshold, warning_mode="never")
    table = _to_arrow(scored)
    scored.drop_table_from_database_and_remove_from_cache()
    flip = pc.equal(table.column("source_dataset_l"), REGISTRY)
    rec = pc.if_else(flip, table.column("uid_r"), table.column("uid_l"))
    reg = pc.if_else(flip, table.column("uid_l"), table.column("uid_r"))
    return pa.table(
        {
            "rec_uid": pc.cast(rec, pa.int64()),
            "reg_uid": pc.cast(reg, pa.int64()),
            "match_probability": pc.cast(table.column("match_probability"), pa.float64()),
            "match_weight": pc.cast(table.column("match_weight"), pa.float64()),
        }
    )
