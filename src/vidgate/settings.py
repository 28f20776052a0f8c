"""Settings: one documented place, read from ``VIDGATE_*`` environment variables.

Provider API keys are not settings: each provider reads its own conventional variable
(``RUNWAYML_API_SECRET``, ``REPLICATE_API_TOKEN``...), as listed in its catalogue file.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


def _default_home() -> Path:
    return Path(platformdirs.user_data_dir("vidgate", appauthor=False))


class Settings(BaseSettings):
    """Every knob vidgate has. Each field is the environment variable ``VIDGATE_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="VIDGATE_", extra="ignore")

    home: Path = Field(
        default_factory=_default_home,
        description="where the database, stored media and working files live",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default sqlite:///$VIDGATE_HOME/vidgate.sqlite",
    )
    storage_dir: Path | None = Field(
        default=None, description="local storage root; default $VIDGATE_HOME/media"
    )
    executor_id: str = Field(
        default="local",
        description="this worker's stable id; a restarted worker with the same id resumes its jobs",
    )
    poll_interval: float = Field(
        default=2.0, gt=0, description="seconds between status polls of a provider task"
    )
    queue_poll_interval: float = Field(
        default=1.0, gt=0, description="seconds between checks of the job queue by a worker"
    )
    worker_concurrency: int = Field(default=8, ge=1, description="jobs one worker runs at once")
    simulated_latency: float = Field(
        default=4.0, ge=0, description="seconds the simulated provider takes to 'generate'"
    )
    http_timeout: float = Field(default=60.0, gt=0, description="seconds per provider HTTP call")
    log_level: str = Field(default="WARNING")

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_home / 'vidgate.sqlite'}"

    @property
    def resolved_storage_dir(self) -> Path:
        return (self.storage_dir or self.resolved_home / "media").expanduser()

    @property
    def work_dir(self) -> Path:
        """Scratch space for downloads between the download and store steps."""
        return self.resolved_home / "work"

    def ensure_dirs(self) -> None:
        for path in (self.resolved_home, self.resolved_storage_dir, self.work_dir):
            path.mkdir(parents=True, exist_ok=True)
