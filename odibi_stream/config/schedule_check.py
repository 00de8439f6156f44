"""Validating ``cron`` / ``interval`` trigger settings when the config is loaded.

A bad expression, interval or timezone used to pass ``validate`` and only fail when the daemon
built the trigger — leaving it running without the pipeline. The checks here run inside the
trigger model's validation, so the error carries the setting's ``file:line``.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from odibi_stream.config.base import parse_duration

# As the runtime reads them (triggers.schedule): crontab weekday numbers, 0/7 = Sunday.
_DOW = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def check_schedule(kind: str, expression: str | None, every: str | None, timezone: str) -> None:
    """Raise ValueError (a pydantic validation error) if the schedule cannot be built."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {timezone!r} (use an IANA name such as Europe/Paris)") from None
    if kind == "interval":
        if not every:
            raise ValueError("an interval trigger needs 'every', e.g. every: 30s")
        if parse_duration(every).total_seconds() <= 0:
            raise ValueError("an interval trigger's 'every' must be positive")
        return
    fields = (expression or "").split()
    if len(fields) not in (5, 6):
        raise ValueError("a cron trigger needs 'expression' with 5 fields, or 6 with seconds first")
    from apscheduler.triggers.cron import CronTrigger

    sec, minute, hour, day, month, dow = fields if len(fields) == 6 else ["0", *fields]
    try:
        CronTrigger(second=sec, minute=minute, hour=hour, day=day, month=month,
                    day_of_week=re.sub(r"\d+", lambda m: _DOW[int(m.group()) % 8], dow), timezone=timezone)
    except ValueError as exc:
        raise ValueError(f"bad cron expression: {exc}") from None
