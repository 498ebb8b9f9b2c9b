"""Files on storage that Spark's executors share, addressed by URI (hdfs://, s3a://, file://…).

The screen writes its files on the local disk. A Spark screen on a cluster needs its inputs
where every executor can read them (`SPARK_STAGING`), and `safetynet screen --out URI` puts the
CSV files on such storage. Both copy through the Hadoop file system of the Spark session, so
whatever the cluster is configured for (its core-site.xml, the s3a connector on its classpath)
works, and nothing else is needed here.
"""

from __future__ import annotations

import re
from pathlib import Path

from safetynet.core.errors import ValidationFailed

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_uri(value: object) -> bool:
    """A location with a scheme (hdfs://…), as opposed to a local path."""
    return isinstance(value, str) and bool(_SCHEME.match(value))


def spark_session():
    """The process's Spark session (started on first use)."""
    from safetynet.engine.adapters import SparkBackend, get_engine

    backend = get_engine("spark").backend
    if not isinstance(backend, SparkBackend):  # pragma: no cover - an injected engine
        raise ValidationFailed("没有可用的 Spark 会话", "no Spark session is available")
    return backend.session()


class HadoopDir:
    """One directory URI, through the Hadoop file system the Spark session is configured with.

    PySpark has no public API for Hadoop's FileSystem: it is reached through the session's JVM
    gateway. Constructing one checks that the URI's file system is there (a clear error before a
    run, not after it)."""

    def __init__(self, session, uri: str):
        context = session.sparkContext
        self.path = context._jvm.org.apache.hadoop.fs.Path
        self.root = self.path(uri)
        try:
            self.fs = self.root.getFileSystem(context._jsc.hadoopConfiguration())
        except Exception as exc:  # noqa: BLE001 - a Java exception through the gateway
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValidationFailed(
                f"无法访问 {uri}：{message}", f"cannot reach {uri}: {message}"
            ) from None

    def put(self, local: Path, name: str) -> str:
        """Copy a local file into the directory as `name`; its URI."""
        target = self.path(self.root, name)
        self.fs.copyFromLocalFile(False, True, self.path(Path(local).resolve().as_uri()), target)
        return str(target.toString())

    def put_input(self, name: str, source: object) -> object:
        """An engine input given as a local Parquet path (or several) → the copied file's URI
        (or URIs); an input given as a table stays as it is."""
        if isinstance(source, list | tuple):
            return [self.put_input(f"{name}-{i}", s) for i, s in enumerate(source)]
        if not isinstance(source, str | Path):
            return source
        return self.put(Path(source), f"{name}.parquet")

    def remove(self) -> None:
        self.fs.delete(self.root, True)


def staging_uri() -> str:
    """`SPARK_STAGING`: where a Spark screen copies its input files for the executors ('' for
    none: they read DATA_DIR's own paths)."""
    from django.conf import settings

    return (getattr(settings, "SPARK_STAGING", "") or "").rstrip("/")
