"""Personal data: which columns are sensitive in a pipeline, and masking them where they leave.

A column is sensitive when any node of the pipeline declares it so (``columns: {email:
{sensitive: true, mask: hash}}``); sensitivity follows the column *name* through the DAG (a
SQL transform that renames a sensitive column must declare the new name on its node too).

Lifecycle: :func:`build_masker` runs at compile time (config errors surface in ``validate``);
the :class:`Masker` lives on the compiled pipeline and the batch executor calls it:

* :meth:`Masker.for_sink` right before every sink write, unless the sink is marked
  ``sensitive: true`` (it may hold raw personal data);
* :meth:`Masker.rejects` / :meth:`Masker.frame` on every record or row that becomes a reject —
  so dead letters, the samples taken from them, log lines and error texts never see raw values.

Masking runs as row-local Arrow code on both engines (see :mod:`odibi_stream.core.masks`), so
a hashed key joins and merges identically on pandas and Spark.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

from odibi_stream.config.models import PipelineConfig, WriteConfig
from odibi_stream.config.project import Project
from odibi_stream.core.masks import (
    MaskRule,
    mask_record,
    mask_table,
    masked_schema,
    scrub_text,
    sensitive_values,
)
from odibi_stream.engines.base import Engine, Frame, Reject
from odibi_stream.engines.frames import arrow_schema, map_arrow
from odibi_stream.exceptions import ConfigError, OdibiError


@dataclass(frozen=True)
class Masker:
    """The masks of one pipeline (empty: nothing is sensitive, every method is a no-op)."""

    rules: dict[str, MaskRule] = field(default_factory=dict)
    salt: bytes | None = field(default=None, repr=False)
    keep: frozenset[str] = frozenset()

    @property
    def active(self) -> bool:
        """True if the pipeline declares sensitive columns."""
        return bool(self.rules)

    def frame(self, engine: Engine, frame: Frame) -> Frame:
        """``frame`` with every sensitive column it has masked."""
        present = {c: r for c, r in self.rules.items() if c in engine.columns(frame)}
        if not present:
            return frame
        schema = masked_schema(arrow_schema(frame), present)
        return map_arrow(frame, functools.partial(mask_table, rules=present, salt=self.salt), schema)

    def for_sink(self, engine: Engine, write: WriteConfig, frame: Frame) -> Frame:
        """The frame a sink may receive: masked unless the sink is ``sensitive: true``."""
        return frame if write.sensitive else self.frame(engine, frame)

    def rejects(self, rejects: Sequence[Reject]) -> list[Reject]:
        """Rejects with their records masked and personal data scrubbed from their errors."""
        if not self.active:
            return list(rejects)
        out = []
        for r in rejects:
            values = sensitive_values(r.record, self.rules)
            out.append(
                Reject(
                    record=mask_record(r.record, self.rules, self.salt),
                    error=scrub_text(r.error, self.rules, values, self.keep),
                    source=r.source,
                )
            )
        return out

    def text(self, text: str) -> str:
        """An error text with quoted values masked (when anything is sensitive)."""
        return scrub_text(text, self.rules, keep=self.keep)

    def scrub_error(self, exc: BaseException) -> BaseException:
        """``exc`` with personal data scrubbed from its message (our errors; others as they are).

        A node's error becomes the batch's error text in logs, the API and stories; SQL engines
        and parsers quote offending values in theirs.
        """
        if self.active and isinstance(exc, OdibiError):
            exc.message = self.text(exc.message)
            exc.args = (exc.message, *exc.args[1:])
        return exc


def build_masker(project: Project, cfg: PipelineConfig) -> Masker:
    """The pipeline's masker, validated.

    Raises:
        ConfigError: one column declared with two masks; ``mask: hash`` without ``pii.salt``;
            a salt that is not a ``${secret:..}``; a merge key masked by anything but hash
            before a non-sensitive merge sink (keys would collide).
    """
    file = str(project.files.get(cfg.pipeline, ""))
    rules: dict[str, MaskRule] = {}
    for index, node in enumerate(cfg.nodes):
        for name, column in node.columns.items():
            if not column.sensitive:
                continue
            rule = MaskRule.parse(column.mask)
            if rules.get(name, rule) != rule:
                raise ConfigError(
                    f"column '{name}' is declared sensitive with two different masks",
                    file=file, line=project.line(cfg.pipeline, "nodes", index, "columns", name),
                    hint="declare one mask per column name in a pipeline",
                )
            rules[name] = rule
    salt = cfg.pii.salt if cfg.pii else None
    if any(r.kind == "hash" for r in rules.values()):
        _check_salt(project, cfg, salt, file)
    _check_keys(project, cfg, rules, file)
    return Masker(rules, salt.encode("utf-8") if salt else None, _identifiers(cfg, rules))


def _identifiers(cfg: PipelineConfig, rules: dict[str, MaskRule]) -> frozenset[str]:
    """Names error texts may quote without leaking data: pipeline, nodes, configured columns."""
    names = {cfg.pipeline, *rules}
    for node in cfg.nodes:
        names.add(node.name)
        names.update(node.columns)
        merge = node.write.merge_config() if node.write is not None else None
        if merge is not None:
            names.update(merge.keys)
            names.update(c for c in (merge.sequence_by, merge.deletes.column if merge.deletes else None) if c)
        if node.expect is not None:
            names.update(node.expect.max_null_fraction)
        names.update(c.name for c in node.checks)
    return frozenset(names)


def _check_salt(project: Project, cfg: PipelineConfig, salt: str | None, file: str) -> None:
    if not salt:
        raise ConfigError(
            f"pipeline '{cfg.pipeline}' masks a column with 'hash' but has no pii.salt",
            file=file, line=project.line(cfg.pipeline, "pipeline"),
            hint="add pii: {salt: ${secret:PII_SALT}} (a secret, so the salt never sits in the file)",
        )
    if salt not in project.secrets:
        raise ConfigError(
            "pii.salt must be a ${secret:NAME} reference, not a value written in the file",
            file=file, line=project.line(cfg.pipeline, "pii", "salt"),
            hint="pii: {salt: ${secret:PII_SALT}} and export PII_SALT=... (or a file in $ODIBI_SECRETS_DIR)",
        )


def _check_keys(project: Project, cfg: PipelineConfig, rules: dict[str, MaskRule], file: str) -> None:
    for index, node in enumerate(cfg.nodes):
        merge = node.write.merge_config() if node.write is not None else None
        if merge is None or node.write is None or node.write.sensitive:
            continue
        bad = sorted(k for k in merge.keys if k in rules and rules[k].kind != "hash")
        if bad:
            raise ConfigError(
                f"node '{node.name}' merges by key(s) {bad} that are masked with "
                f"{sorted({rules[k].kind for k in bad})}: distinct keys would collide",
                file=file, line=project.line(cfg.pipeline, "nodes", index, "write"),
                hint="mask merge keys with 'hash' (equal values stay equal), or mark the sink sensitive: true",
            )
