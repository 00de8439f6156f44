"""Claims-based security: shared access policies, SAS token checks, per-connection grants.

A client authorises a connection by putting a token on the ``$cbs`` node for an audience
(``sb://host/hub[/consumergroups/cg]``). A SAS token is valid when its HMAC-SHA256 signature
matches a policy's key, it has not expired and its resource (``sr``) covers the audience.
Opaque bearer tokens (what a ``TokenCredential`` hands the SDK) are accepted when registered
with :meth:`Authenticator.register_bearer_token`, since Entra ID cannot be reached from tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field

from tests.eventhub_server.errors import UNAUTHORIZED, ServiceError

LISTEN, SEND, MANAGE = "Listen", "Send", "Manage"
SAS_TOKEN_TYPE = "servicebus.windows.net:sastoken"
DEFAULT_POLICY = "RootManageSharedAccessKey"


@dataclass(frozen=True)
class Policy:
    """A shared access policy: a key name, its key, and the rights tokens signed with it carry."""

    name: str
    key: str
    rights: frozenset[str] = frozenset({LISTEN, SEND, MANAGE})


def entity_path(uri: str) -> str:
    """The lower-cased path of an audience or resource URI, without slashes at the ends."""
    parsed = urllib.parse.urlparse(uri if "://" in uri else f"sb://{uri}")
    return urllib.parse.unquote(parsed.path).strip("/").lower()


def covers(resource: str, audience: str) -> bool:
    """True when a token for path ``resource`` may be used for path ``audience``."""
    return not resource or audience == resource or audience.startswith(resource + "/")


@dataclass(frozen=True)
class Grant:
    """What one accepted token allows on the connection it was put on."""

    audience: str  # entity path, e.g. "hub/consumergroups/$default"
    rights: frozenset[str]
    expires_at: float

    def allows(self, hub: str, right: str) -> bool:
        """True when this grant lets a link on ``hub`` use ``right`` now."""
        if time.time() >= self.expires_at:
            return False
        rights = self.rights | {LISTEN, SEND} if MANAGE in self.rights else self.rights
        return right in rights and covers(self.audience.split("/")[0], hub.lower())


@dataclass
class Authenticator:
    """Validates tokens against the namespace's policies (thread-safe: read-mostly)."""

    policies: dict[str, Policy]
    bearer_tokens: dict[str, tuple[frozenset[str], float]] = field(default_factory=dict)

    @classmethod
    def with_policies(cls, policies: Iterable[Policy]) -> Authenticator:
        """An authenticator for ``policies`` (looked up by key name)."""
        return cls({p.name: p for p in policies})

    def register_bearer_token(self, token: str, rights: Iterable[str], ttl_seconds: float) -> None:
        """Accept ``token`` (token type ``jwt``) with ``rights`` for the next ``ttl_seconds``."""
        self.bearer_tokens[token] = (frozenset(rights), time.time() + ttl_seconds)

    def validate(self, token: str, token_type: str, audience: str) -> Grant:
        """A grant for ``audience``, or ``ServiceError`` (status 401) saying why not."""
        path = entity_path(audience)
        if token_type == SAS_TOKEN_TYPE:
            return self._validate_sas(token, path)
        found = self.bearer_tokens.get(token)
        if found is None or time.time() >= found[1]:
            raise ServiceError(UNAUTHORIZED, "InvalidIssuer: Token issuer is invalid.", status=401)
        return Grant(path, found[0], found[1])

    def _validate_sas(self, token: str, path: str) -> Grant:
        fields = _parse_sas(token)
        policy = self.policies.get(fields.get("skn", ""))
        if policy is None:
            raise ServiceError(
                UNAUTHORIZED, "InvalidSignature: The token has an invalid signature.", status=401
            )
        resource, expiry = fields.get("sr", ""), fields.get("se", "")
        to_sign = f"{urllib.parse.quote_plus(resource)}\n{expiry}".encode()
        digest = hmac.new(policy.key.encode("utf-8"), to_sign, hashlib.sha256).digest()
        if not hmac.compare_digest(base64.b64encode(digest).decode(), fields.get("sig", "")):
            raise ServiceError(
                UNAUTHORIZED, "InvalidSignature: The token has an invalid signature.", status=401
            )
        if not expiry.isdigit() or int(expiry) <= time.time():
            raise ServiceError(UNAUTHORIZED, "ExpiredToken: The token is expired.", status=401)
        if not covers(entity_path(resource), path):
            raise ServiceError(
                UNAUTHORIZED,
                f"InvalidAudience: The token audience '{resource}' does not cover '{path}'.",
                status=401,
            )
        return Grant(path, policy.rights, float(expiry))


def _parse_sas(token: str) -> dict[str, str]:
    prefix = "SharedAccessSignature "
    body = token[len(prefix) :] if token.startswith(prefix) else token
    return {k: v[0] for k, v in urllib.parse.parse_qs(body, keep_blank_values=True).items()}
