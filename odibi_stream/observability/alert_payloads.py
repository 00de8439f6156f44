"""Alert documents and their wire payloads: generic webhook JSON, Slack, Microsoft Teams.

An :class:`Alert` is built by the service's alert manager when an incident opens or clears;
:func:`payload` renders it for a target:

* ``webhook`` — the alert itself as versioned JSON (``"version": 1, "kind": "alert"``);
* ``slack`` — an incoming-webhook message (``text`` + Block Kit ``blocks``);
* ``teams`` — an incoming-webhook / Workflows message carrying an Adaptive Card.

Every string that may come from an error or a record is redacted before it gets here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ALERT_VERSION = 1

_TITLES = {
    "failed": "failed",
    "lag": "is falling behind",
    "stalled": "has stalled",
    "recovered": "recovered",
}


@dataclass(frozen=True)
class Alert:
    """One alert: an incident opening (failed, lag, stalled) or clearing (recovered).

    Attributes:
        event: ``failed``, ``lag``, ``stalled`` or ``recovered``.
        project: Project name.
        pipeline: Pipeline name.
        incident: Stable id of the incident (the same on its ``recovered``).
        at: When the condition was detected (UTC).
        summary: One human sentence.
        rule: The rule's name, if it has one.
        detail: Event-specific facts (batch, step, node, where, error, lag, threshold,
            last_commit, cleared, open_seconds).
    """

    event: str
    project: str
    pipeline: str
    incident: str
    at: datetime
    summary: str
    rule: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The generic webhook document."""
        return {
            "version": ALERT_VERSION,
            "kind": "alert",
            "event": self.event,
            "project": self.project,
            "pipeline": self.pipeline,
            "incident": self.incident,
            "rule": self.rule,
            "at": self.at.isoformat(),
            "summary": self.summary,
            **self.detail,
        }

    @property
    def title(self) -> str:
        """``odibi-stream: pipeline orders failed``."""
        return f"odibi-stream: pipeline {self.pipeline} {_TITLES.get(self.event, self.event)}"


def payload(alert: Alert, target: str) -> dict[str, Any]:
    """The body to POST to a ``webhook``, ``slack`` or ``teams`` target."""
    if target == "slack":
        return slack(alert)
    if target == "teams":
        return teams(alert)
    return alert.as_dict()


def _facts(alert: Alert) -> list[tuple[str, str]]:
    facts = [("Project", alert.project), ("Pipeline", alert.pipeline), ("Event", alert.event)]
    for key in ("batch", "step", "node", "where", "cleared"):
        value = alert.detail.get(key)
        if value is not None:
            facts.append((key.capitalize(), str(value)))
    facts.append(("Incident", alert.incident))
    return facts


def slack(alert: Alert) -> dict[str, Any]:
    """A Slack incoming-webhook message."""
    lines = "\n".join(f"*{name}:* {value}" for name, value in _facts(alert))
    return {
        "text": f"{alert.title}: {alert.summary}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": alert.title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": alert.summary[:2900]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": lines[:2900]}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": alert.at.isoformat()}]},
        ],
    }


def teams(alert: Alert) -> dict[str, Any]:
    """A Teams message with an Adaptive Card (incoming webhooks and Workflows accept it)."""
    color = "Good" if alert.event == "recovered" else "Attention"
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "color": color,
                         "text": alert.title, "wrap": True},
                        {"type": "TextBlock", "text": alert.summary, "wrap": True},
                        {"type": "FactSet", "facts": [{"title": n, "value": v} for n, v in _facts(alert)]},
                        {"type": "TextBlock", "text": alert.at.isoformat(), "isSubtle": True, "size": "Small"},
                    ],
                },
            }
        ],
    }
