"""``${env:VAR}``, ``${env:VAR:-default}`` and ``${secret:NAME}`` in config values.

References may be a whole string value or embedded in one (``"abfss://${env:ACCOUNT}.dfs..."``);
``$${`` writes a literal ``${``. Secrets come from the environment variable ``NAME`` or, failing
that, from the file ``$ODIBI_SECRETS_DIR/NAME`` (Kubernetes-mounted secrets, trailing newline
stripped). An ``${env:VAR}`` value is a secret too when ``VAR`` is listed in ``odibi.yaml``'s
``secret_env`` (explicit), or when the variable's name or the config key it sets looks like a
credential (``*PASSWORD*``, ``*TOKEN*``, ``*SECRET*``, ``sasl.password``, ``account_key``...:
automatic). Every resolved secret value is added to the caller's ``secrets`` set, with its
reference (``${secret:NAME}`` / ``${env:VAR}``) in ``references``: config is pure data and
registers nothing globally; the layer that loads a project hands them to the redactor
(``odibi_stream.core.redact.register_secrets``) before anything can log them.

Weak secrets. A secret value that is short or a plain word cannot be masked without masking
ordinary text (which would reveal it): an explicit one (``${secret:..}``, ``secret_env``) is a
:class:`ConfigError` at its line; an automatically detected one is not treated as a secret
(credential patterns such as ``password=...`` are still masked).

Lifecycle: the project loader calls :func:`substitute` once per file, after the environment
overlay and before validation. Guarantees: the input is not modified; every unresolvable
reference raises :class:`ConfigError` with the value's ``file:line``; error messages name the
variable, never a value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from odibi_stream.config.yamlpos import KeyPath, line_for
from odibi_stream.core.redact import is_credential_name, weak_secret_reason
from odibi_stream.exceptions import ConfigError

SECRETS_DIR_VAR = "ODIBI_SECRETS_DIR"

_REF_RE = re.compile(
    r"\$\$\{|\$\{(?P<kind>[A-Za-z_]+):(?P<name>[A-Za-z0-9_.\-]+)(?::-(?P<default>[^}]*))?\}"
)


def substitute(
    data: Any,
    *,
    file: str,
    lines: Mapping[KeyPath, int],
    environ: Mapping[str, str] | None = None,
    skip: Callable[[KeyPath], bool] | None = None,
    secrets: set[str] | None = None,
    references: dict[str, str] | None = None,
    secret_env: Collection[str] = (),
    templates: dict[KeyPath, str] | None = None,
) -> Any:
    """Return a copy of ``data`` with every reference resolved.

    Args:
        data: Plain YAML data (dicts, lists, scalars).
        file: File name for error messages.
        lines: Key path → line (value lines preferred) for error positions.
        environ: Environment to resolve from (defaults to ``os.environ``).
        skip: Paths for which the subtree is returned unresolved (e.g. unselected env overlays).
        secrets: Collects every resolved secret value (for the redactor).
        references: Collects secret value → its reference (``${secret:NAME}``, ``${env:VAR}``).
        secret_env: Names of environment variables whose ``${env:..}`` values are secrets.
        templates: Collects key path → the unsubstituted text of every value with a reference.

    Raises:
        ConfigError: A variable or secret is missing, or the reference kind is unknown.
    """
    env = os.environ if environ is None else environ
    ctx = _Context(file, dict(lines), env, skip, secrets if secrets is not None else set())
    ctx.references = references if references is not None else {}
    ctx.secret_env = frozenset(secret_env)
    ctx.templates = templates if templates is not None else {}
    return _walk(data, (), ctx)


class _Context:
    def __init__(
        self,
        file: str,
        lines: dict[KeyPath, int],
        env: Mapping[str, str],
        skip: Callable[[KeyPath], bool] | None,
        secrets: set[str],
    ) -> None:
        self.file = file
        self.lines = lines
        self.env = env
        self.skip = skip
        self.secrets = secrets
        self.references: dict[str, str] = {}
        self.secret_env: frozenset[str] = frozenset()
        self.templates: dict[KeyPath, str] = {}


def _walk(value: Any, path: KeyPath, ctx: _Context) -> Any:
    if ctx.skip is not None and ctx.skip(path):
        return value
    if isinstance(value, dict):
        return {k: _walk(v, (*path, k), ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, (*path, i), ctx) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:
        ctx.templates[path] = value
        return _SubstituteString(ctx, path).apply(value)
    return value


class _SubstituteString:
    def __init__(self, ctx: _Context, path: KeyPath) -> None:
        self.ctx = ctx
        self.path = path

    def apply(self, text: str) -> str:
        return _REF_RE.sub(self._replace, text)

    def _replace(self, match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        kind, name, default = match.group("kind"), match.group("name"), match.group("default")
        if kind == "env":
            return self._env(name, default)
        if kind == "secret":
            return self._secret(name)
        raise self._error(
            f"unknown reference kind '{kind}' in '${{{kind}:{name}}}'",
            "use ${env:VAR}, ${env:VAR:-default} or ${secret:NAME} (write $${ for a literal ${)",
        )

    def _env(self, name: str, default: str | None) -> str:
        value = self.ctx.env.get(name)
        if value is None and default is not None:
            value = default
        if value is not None:
            # Listed in secret_env: a secret (weak is an error); named like a credential: a
            # secret when it is strong enough to be masked safely.
            explicit = name in self.ctx.secret_env
            if explicit or (self._looks_secret(name) and weak_secret_reason(value) is None):
                self._keep_secret(value, f"${{env:{name}}}", f"environment variable '{name}'")
            return value
        raise self._error(
            f"environment variable '{name}' is not set",
            f"export {name}=... or use ${{env:{name}:-default}}",
        )

    def _secret(self, name: str) -> str:
        value = self.ctx.env.get(name)
        if value is None:
            value = _read_secret_file(name, self.ctx.env.get(SECRETS_DIR_VAR))
        if value is None:
            where = self.ctx.env.get(SECRETS_DIR_VAR)
            also = (
                f" or create the file {where}/{name}"
                if where
                else f" or set {SECRETS_DIR_VAR} to a folder holding a file '{name}'"
            )
            raise self._error(f"secret '{name}' was not found", f"export {name}=...{also}")
        self._keep_secret(value, f"${{secret:{name}}}", f"secret '{name}'")
        return value

    def _looks_secret(self, name: str) -> bool:
        key = next((k for k in reversed(self.path) if isinstance(k, str)), "")
        return is_credential_name(name) or is_credential_name(key)

    def _keep_secret(self, value: str, reference: str, what: str) -> None:
        reason = weak_secret_reason(value)
        if reason is not None:
            raise self._error(
                f"{what} is too weak to be masked safely: {reason}",
                "odibi-stream masks secret values in every output, and masking a short or common "
                "value would hide ordinary text and so reveal it: use a longer random value "
                "(8+ characters, not a plain word or number)",
            )
        self.ctx.secrets.add(value)
        self.ctx.references.setdefault(value, reference)

    def _error(self, message: str, hint: str) -> ConfigError:
        line = self.ctx.lines.get(self.path) or line_for(self.ctx.lines, self.path)
        return ConfigError(message, file=self.ctx.file, line=line, hint=hint)


def _read_secret_file(name: str, folder: str | None) -> str | None:
    if not folder or "/" in name or name in (".", ".."):
        return None
    path = Path(folder) / name
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
