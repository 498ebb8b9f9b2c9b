"""Django settings, read from the environment.

SAFETYNET_DATA_DIR  where the SQLite file, the Parquet lake and exports live (default ./var)
DATABASE_URL        e.g. postgres://user@127.0.0.1:5432/safetynet (default: SQLite in the data dir)
SAFETYNET_SECRET_KEY  required when SAFETYNET_DEBUG is off
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

PACKAGE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("SAFETYNET_DATA_DIR", "var")).resolve()
LAKE_DIR = DATA_DIR / "lake"
EXPORT_DIR = DATA_DIR / "exports"

DEBUG = os.environ.get("SAFETYNET_DEBUG", "1") == "1"
SECRET_KEY = os.environ.get("SAFETYNET_SECRET_KEY") or (
    "insecure-development-key-only" if DEBUG else None
)
if not SECRET_KEY:
    raise RuntimeError("SAFETYNET_SECRET_KEY must be set when SAFETYNET_DEBUG=0")
ALLOWED_HOSTS = os.environ.get("SAFETYNET_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_tasks",
    "django_tasks_db",
    "safetynet.core",
    "safetynet.accounts",
    "safetynet.areas",
    "safetynet.registry",
    "safetynet.screening",
    "safetynet.feeds",
    "safetynet.policy",
    "safetynet.monitoring",
    "safetynet.assistance",
    "safetynet.quality",
    "safetynet.reports",
    "safetynet.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "safetynet.config.urls"
WSGI_APPLICATION = "safetynet.config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "safetynet.web.context_processors.layout",
            ],
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'safetynet.sqlite3'}",
        conn_max_age=60,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("SAFETYNET_LOG_LEVEL", "WARNING")},
}

# Identity linkage thresholds (formats/feeds.md): match probability from the Fellegi-Sunter model.
LINKAGE_ACCEPT_THRESHOLD = float(os.environ.get("SAFETYNET_LINKAGE_ACCEPT", "0.95"))
LINKAGE_REVIEW_THRESHOLD = float(os.environ.get("SAFETYNET_LINKAGE_REVIEW", "0.60"))

# Spark master for --engine spark (local mode by default).
SPARK_MASTER = os.environ.get("SAFETYNET_SPARK_MASTER", "local[2]")
# A directory URI the Spark executors read (hdfs://…, s3a://…, file:///shared/…): a Spark screen
# copies its input files there for the run. Empty: the executors read DATA_DIR's own paths.
SPARK_STAGING = os.environ.get("SAFETYNET_SPARK_STAGING", "")

ROLE_LABELS = {
    "village": _("Village cadre"),
    "township": _("Township officer"),
    "county": _("County officer"),
    "region": _("Regional analyst"),
    "admin": _("Administrator"),
}
