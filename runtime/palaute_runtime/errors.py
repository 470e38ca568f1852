"""Errors that stop a service from starting, said to the operator in one sentence."""

from __future__ import annotations


class RefusedStart(RuntimeError):
    """The service will not start as configured; the message says why and what to do."""
