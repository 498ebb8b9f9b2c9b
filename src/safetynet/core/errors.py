"""The project's error hierarchy. Every message is bilingual: Chinese first, then English."""

from __future__ import annotations


class SafetyNetError(Exception):
    """Base of all expected errors; rendered in one place by the CLI and the web layer."""

    code = "error"

    def __init__(self, zh: str, en: str, **details):
        super().__init__(f"{zh} / {en}")
        self.zh = zh
        self.en = en
        self.details = details

    def message(self, lang: str = "zh") -> str:
        return self.en if lang.startswith("en") else self.zh


class ValidationFailed(SafetyNetError):
    code = "invalid"


class NotFound(SafetyNetError):
    code = "not_found"


class PermissionDenied(SafetyNetError):
    code = "forbidden"


class Conflict(SafetyNetError):
    """Optimistic-locking conflict: somebody else changed the object first."""

    code = "conflict"


class TransitionNotAllowed(SafetyNetError):
    code = "transition"
