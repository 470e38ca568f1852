"""What keeps a service from doing its work right now, for readiness and for operators."""

from __future__ import annotations

import structlog

from palaute_runtime.metrics import SERVICE_DEGRADED

log = structlog.get_logger("palaute.health")


class Health:
    """Named problems a service has at this moment; ready when there are none."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._problems: dict[str, str] = {}

    def problem(self, part: str, what: str) -> None:
        """Say that `part` cannot work, and why (logged once per change)."""
        if self._problems.get(part) != what:
            self._problems[part] = what
            SERVICE_DEGRADED.labels(service=self.service, part=part).set(1)
            log.warning("service_degraded", service=self.service, part=part, problem=what)

    def recovered(self, part: str) -> None:
        """Say that `part` works again."""
        if self._problems.pop(part, None) is not None:
            SERVICE_DEGRADED.labels(service=self.service, part=part).set(0)
            log.info("service_recovered", service=self.service, part=part)

    @property
    def problems(self) -> dict[str, str]:
        """What is wrong now, part by part."""
        return dict(self._problems)

    @property
    def ready(self) -> bool:
        """True when nothing is wrong."""
        return not self._problems
