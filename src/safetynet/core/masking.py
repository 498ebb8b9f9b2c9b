"""Masking of personal data for display. Unmasked views go through `reveal`, which audits."""

from __future__ import annotations


def mask_id_number(value: str | None) -> str:
    if not value:
        return ""
    if len(value) <= 8:
        return "*" * len(value)
    return f"{value[:6]}{'*' * (len(value) - 10)}{value[-4:]}"


def mask_phone(value: str | None) -> str:
    if not value:
        return ""
    if len(value) < 7:
        return "*" * len(value)
    return f"{value[:3]}****{value[-4:]}"


def mask_account(value: str | None) -> str:
    if not value:
        return ""
    return f"{'*' * max(len(value) - 4, 0)}{value[-4:]}"


def mask_health(value: str | None) -> str:
    return "***" if value else ""
