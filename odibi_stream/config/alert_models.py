"""Models of ``alerts:`` in ``odibi.yaml``: who is told what, when.

Example::

    alerts:
      - on: [failed, recovered, lag, stalled]
        pipelines: [orders]                      # default: every pipeline
        lag: {files: 100, for: 5m}               # or records: N
        stalled: {no_commit_for: 15m}            # an SLA
        webhook: {url: "${secret:HOOK}"}         # or slack: {url: ...} / teams: {url: ...}

An *incident* opens when a condition starts (a pipeline fails, lag stays above the threshold
for ``for``, no commit for ``no_commit_for``) and is alerted once; when it clears, one
``recovered`` alert follows (if ``recovered`` is in ``on``). See ``service.alerts``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from odibi_stream.config.base import Model, parse_duration

AlertEvent = Literal["failed", "recovered", "lag", "stalled"]
"""failed: a pipeline gave up (state failed); lag: backlog above a threshold for a while;
stalled: no commit for too long; recovered: an open incident cleared."""


def _default_events() -> list[AlertEvent]:
    return ["failed", "recovered"]


def _duration(v: str) -> str:
    if parse_duration(v).total_seconds() < 0:
        raise ValueError("durations must not be negative")
    return v


class LagThreshold(Model):
    """Alert when a pipeline's backlog stays above a threshold (exactly one unit)."""

    files: int | None = Field(default=None, ge=0, description="Files waiting (file sources).")
    records: int | None = Field(
        default=None, ge=0, description="Records waiting (Kafka/Event Hubs offsets, rows of column sources)."
    )
    for_: str = Field(
        default="5m", alias="for", description="How long the backlog must stay above the threshold (e.g. 5m)."
    )

    @field_validator("for_")
    @classmethod
    def _for(cls, v: str) -> str:
        return _duration(v)

    @model_validator(mode="after")
    def _one_unit(self) -> LagThreshold:
        if (self.files is None) == (self.records is None):
            raise ValueError("lag needs exactly one of 'files' or 'records'")
        return self

    @property
    def unit(self) -> str:
        """``files`` or ``records``."""
        return "files" if self.files is not None else "records"

    @property
    def limit(self) -> int:
        """The threshold in :attr:`unit`."""
        return int(self.files if self.files is not None else self.records or 0)

    @property
    def seconds(self) -> float:
        """``for`` in seconds."""
        return parse_duration(self.for_).total_seconds()


class StalledThreshold(Model):
    """Alert when a pipeline has not committed for too long (a freshness SLA)."""

    no_commit_for: str = Field(description="Longest acceptable time without a commit (e.g. 15m).")

    @field_validator("no_commit_for")
    @classmethod
    def _window(cls, v: str) -> str:
        if parse_duration(v).total_seconds() <= 0:
            raise ValueError("no_commit_for must be positive")
        return v

    @property
    def seconds(self) -> float:
        """``no_commit_for`` in seconds."""
        return parse_duration(self.no_commit_for).total_seconds()


class WebhookTarget(Model):
    """POST a JSON alert document to any HTTP endpoint."""

    url: str = Field(description="Endpoint URL (use ${secret:NAME} when it embeds a token).")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra request headers (e.g. Authorization); values may use ${secret:NAME}."
    )


class ChatTarget(Model):
    """A Slack or Microsoft Teams incoming webhook."""

    url: str = Field(description="The incoming-webhook URL (a secret: use ${secret:NAME}).")


class AlertRule(Model):
    """One alert rule: events, the pipelines it watches, thresholds, and exactly one target."""

    name: str | None = Field(default=None, description="Label of the rule in logs and payloads.")
    on: list[AlertEvent] = Field(
        default_factory=_default_events, min_length=1, description="Events that send an alert."
    )
    pipelines: list[str] = Field(default_factory=list, description="Pipelines watched (default: all).")
    lag: LagThreshold | None = Field(default=None, description="Threshold of the 'lag' event.")
    stalled: StalledThreshold | None = Field(default=None, description="Threshold of the 'stalled' event.")
    webhook: WebhookTarget | None = Field(default=None, description="Send JSON to this endpoint.")
    slack: ChatTarget | None = Field(default=None, description="Send a Slack incoming-webhook message.")
    teams: ChatTarget | None = Field(default=None, description="Send a Microsoft Teams incoming-webhook card.")
    max_attempts: int = Field(default=6, ge=1, le=50, description="Delivery attempts before an alert is dropped (logged).")
    timeout_seconds: float = Field(default=10.0, gt=0, le=120, description="HTTP timeout of one delivery attempt.")

    @model_validator(mode="after")
    def _consistent(self) -> AlertRule:
        targets = [t for t in ("webhook", "slack", "teams") if getattr(self, t) is not None]
        if len(targets) != 1:
            raise ValueError("an alert needs exactly one target: webhook, slack or teams")
        if "lag" in self.on and self.lag is None:
            raise ValueError("'on: lag' needs a 'lag' threshold, e.g. lag: {files: 100, for: 5m}")
        if "stalled" in self.on and self.stalled is None:
            raise ValueError("'on: stalled' needs 'stalled: {no_commit_for: 15m}'")
        return self

    @property
    def target(self) -> str:
        """``webhook``, ``slack`` or ``teams``."""
        return "webhook" if self.webhook else "slack" if self.slack else "teams"

    @property
    def url(self) -> str:
        """The target's URL."""
        chosen = self.webhook or self.slack or self.teams
        assert chosen is not None
        return chosen.url

    def watches(self, pipeline: str) -> bool:
        """True if this rule applies to ``pipeline``."""
        return not self.pipelines or pipeline in self.pipelines
