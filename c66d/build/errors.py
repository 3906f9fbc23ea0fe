"""Outcomes of a build that went wrong; `reason` is what the build record and log show."""

from __future__ import annotations

from c66d.errors import C66dError


class BuildFailed(C66dError):
    """A build step failed; the message is the reason kept on the build."""

    status = 422
    code = "BUILD_FAILED"


class GitFailed(BuildFailed):
    """`git` could not fetch or read the source."""

    code = "GIT_FAILED"


class GitAuthFailed(GitFailed):
    """The git host refused our credentials (deploy key or https)."""

    code = "GIT_AUTH_FAILED"


class DockerfileMissing(BuildFailed):
    code = "DOCKERFILE_MISSING"


class NoSpace(BuildFailed):
    """A disk (ours or the engine's) is full."""

    code = "NO_SPACE"


class ServiceNotBuildable(C66dError):
    """The service has no `git_url`, or the stack/service does not exist."""

    status = 400
    code = "NOT_BUILDABLE"
