"""CBS authentication as the unmodified SDK sees it: keys, policies, SAS and bearer tokens."""

from __future__ import annotations

import time
import uuid

import pytest
from azure.core.credentials import AccessToken, AzureNamedKeyCredential, AzureSasCredential
from azure.eventhub import EventData, EventHubProducerClient
from azure.eventhub._pyamqp.utils import generate_sas_token
from azure.eventhub.exceptions import AuthenticationError, EventHubError

from tests.eventhub_server.auth import LISTEN
from tests.eventhub_server.fixtures import EventHubTarget, local_server
from tests.eventhub_server.sdk import ReceiveError, receive

BAD_KEY = "d3Jvbmcta2V5LW5vdC10aGUtcmlnaHQtb25l"


def test_the_right_key_is_accepted(eventhub_server: EventHubTarget) -> None:
    hub = eventhub_server.create_hub(f"auth-{uuid.uuid4().hex[:6]}", 2)
    with EventHubProducerClient.from_connection_string(eventhub_server.connection_string(hub)) as client:
        assert client.get_partition_ids()[:2] == ["0", "1"]


def test_a_wrong_key_raises_authentication_error(eventhub_server: EventHubTarget) -> None:
    hub = eventhub_server.create_hub(f"auth-{uuid.uuid4().hex[:6]}", 2)
    conn = eventhub_server.connection_string(hub, key=BAD_KEY)
    with EventHubProducerClient.from_connection_string(conn, retry_total=0) as client:
        with pytest.raises(AuthenticationError, match="401"):
            client.get_partition_ids()
        with pytest.raises(AuthenticationError):
            client.send_event(EventData(b"x"), partition_id="0")


def test_a_wrong_key_fails_a_receiver_too(eventhub_server: EventHubTarget) -> None:
    hub = eventhub_server.create_hub(f"auth-{uuid.uuid4().hex[:6]}", 2)
    with pytest.raises(ReceiveError) as failed:
        receive(eventhub_server.connection_string(hub, key=BAD_KEY), "0")
    assert isinstance(failed.value.errors[0], AuthenticationError)


def test_an_unknown_policy_name_is_refused(eventhub_server: EventHubTarget) -> None:
    hub = eventhub_server.create_hub(f"auth-{uuid.uuid4().hex[:6]}", 2)
    conn = eventhub_server.connection_string(hub, key_name="NoSuchPolicy")
    with (
        EventHubProducerClient.from_connection_string(conn, retry_total=0) as client,
        pytest.raises(AuthenticationError),
    ):
        client.get_partition_ids()


def test_a_listen_only_policy_cannot_send(eventhub_server: EventHubTarget) -> None:
    server = local_server(eventhub_server, "a listen-only policy")
    server.create_hub("ro", 1)
    server.add_policy("ListenOnly", "bGlzdGVuLWtleQ==", rights=[LISTEN])
    conn = server.connection_string("ro", key_name="ListenOnly", key="bGlzdGVuLWtleQ==")
    with EventHubProducerClient.from_connection_string(conn, retry_total=0) as client:
        assert client.get_partition_ids() == ["0"]
        with pytest.raises(EventHubError, match="'Send' claim"):
            client.send_event(EventData(b"x"), partition_id="0")
    assert receive(conn, "0") == []


def test_sas_and_named_key_credentials(eventhub_server: EventHubTarget) -> None:
    server = local_server(eventhub_server, "credential objects against a loopback endpoint")
    server.create_hub("creds", 1)
    namespace = f"127.0.0.1:{server.port}"
    named = AzureNamedKeyCredential(server.key_name, server.key)
    with EventHubProducerClient(namespace, "creds", named, use_tls=False, retry_total=0) as client:
        client.send_event(EventData(b"named"), partition_id="0")
    token = generate_sas_token(f"sb://{namespace}/creds", server.key_name, server.key, int(time.time()) + 600)
    with EventHubProducerClient(namespace, "creds", AzureSasCredential(token), use_tls=False) as client:
        client.send_event(EventData(b"sas"), partition_id="0")
    assert [e.body_as_str() for e in receive(server.connection_string("creds"), "0")] == ["named", "sas"]


class _StaticToken:
    """A TokenCredential handing out one bearer token (what Entra ID would issue)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)


def test_bearer_tokens_must_be_registered(eventhub_server: EventHubTarget) -> None:
    server = local_server(eventhub_server, "bearer tokens")
    server.create_hub("entra", 1)
    namespace = f"127.0.0.1:{server.port}"
    with EventHubProducerClient(
        namespace, "entra", _StaticToken("unknown"), use_tls=False, retry_total=0
    ) as client, pytest.raises(AuthenticationError):
        client.get_partition_ids()
    server.register_bearer_token("good-token")
    with EventHubProducerClient(namespace, "entra", _StaticToken("good-token"), use_tls=False) as client:
        client.send_event(EventData(b"entra"), partition_id="0")
    assert len(receive(server.connection_string("entra"), "0")) == 1


def test_expired_sas_token_is_refused(eventhub_server: EventHubTarget) -> None:
    server = local_server(eventhub_server, "an expired token")
    server.create_hub("old", 1)
    namespace = f"127.0.0.1:{server.port}"
    token = generate_sas_token(f"sb://{namespace}/old", server.key_name, server.key, int(time.time()) - 5)
    with EventHubProducerClient(
        namespace, "old", AzureSasCredential(token), use_tls=False, retry_total=0
    ) as client, pytest.raises(AuthenticationError):
        client.get_partition_ids()

