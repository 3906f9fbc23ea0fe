"""c66d: self-hosted Docker in production, in one process."""

__version__ = "0.1.0"
