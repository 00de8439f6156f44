"""Settings of the trigger kinds that take options: polled data triggers, continuous, manual.

``file_watch``, ``cron`` and ``interval`` have their models next to the pipeline models.
"""

from __future__ import annotations

from pydantic import Field, PositiveFloat, model_validator

from odibi_stream.config.options.common import Options

CONTINUOUS_POLL_SECONDS = 0.5
"""Default of ``continuous.poll_seconds`` (also what the stream manager uses when not told)."""


class PollTrigger(Options):
    """``trigger: {kafka: {...}}`` / ``{eventhub: {...}}``: wake when a source's end moves."""

    poll_seconds: PositiveFloat | None = Field(
        default=None,
        description="Seconds between probes of the sources' end positions (default: each "
        "source's own: Kafka 0.5 s).",
    )
    interval_seconds: PositiveFloat | None = Field(
        default=None, description="Older name of poll_seconds (set one of them)."
    )

    @model_validator(mode="after")
    def _one_name(self) -> PollTrigger:
        if self.poll_seconds is not None and self.interval_seconds is not None:
            raise ValueError("set poll_seconds or interval_seconds, not both")
        return self

    @property
    def interval(self) -> float | None:
        """The configured poll period in seconds (None: each source's default)."""
        return self.poll_seconds if self.poll_seconds is not None else self.interval_seconds


class ContinuousTrigger(Options):
    """``trigger: {continuous: {...}}``: run the next batch as soon as data exists."""

    poll_seconds: PositiveFloat = Field(
        default=CONTINUOUS_POLL_SECONDS,
        description="While idle, how often the sources are asked for new data.",
    )


class ManualTrigger(Options):
    """``trigger: {manual: {}}``: run only when triggered (API, CLI, or ``after`` another)."""
