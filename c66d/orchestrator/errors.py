"""Outcomes of a rollout that users read."""

from __future__ import annotations

from c66d.errors import C66dError, Conflict


class RolloutFailed(C66dError):
    status = 500
    code = "ROLLOUT_FAILED"


class HealthCheckFailed(RolloutFailed):
    code = "HEALTH_CHECK_FAILED"


class NoServerFits(RolloutFailed):
    code = "NO_SERVER_FITS"


class ImageUnavailable(RolloutFailed):
    code = "IMAGE_UNAVAILABLE"


class RolloutBusy(Conflict):
    code = "ROLLOUT_BUSY"
