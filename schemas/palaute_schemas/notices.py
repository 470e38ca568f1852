"""Where each programme's privacy notice is (the collector serves it; the invitation's email
links it). What the respondent is told of their answer is in the message catalogues
(`anonymity.*`, palaute_runtime.i18n)."""

from __future__ import annotations


def notice_path(programme: str, language: str) -> str:
    """Where the collector serves a programme's privacy notice in a language."""
    return f"/privacy/{programme}/{language}"
