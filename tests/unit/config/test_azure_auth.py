"""The Azure ``auth:`` block: exactly one mode, shorthands, secrets never shown."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from odibi_stream.config.azure_auth import AUTH_MODES, AzureAuth
from odibi_stream.config.base import Model

SECRET = "c2VjcmV0LWtleS12YWx1ZS0xMjM0NQ=="


@pytest.mark.parametrize(
    ("data", "mode"),
    [
        ({"connection_string": "AccountName=a;AccountKey=k"}, "connection_string"),
        ({"account_key": SECRET}, "account_key"),
        ({"sas_token": "sv=2024&sig=abc"}, "sas_token"),
        ({"shared_access_key": {"name": "Root", "key": SECRET}}, "shared_access_key"),
        (
            {"service_principal": {"tenant_id": "t", "client_id": "c", "client_secret": SECRET}},
            "service_principal",
        ),
        ({"managed_identity": {}}, "managed_identity"),
        ({"managed_identity": {"client_id": "uami"}}, "managed_identity"),
        ({"managed_identity": None}, "managed_identity"),
        ({"workload_identity": {"token_file": "/var/run/t"}}, "workload_identity"),
        ({"azure_cli": {}}, "azure_cli"),
        ({"default": {}}, "default"),
        ("default", "default"),
        ("azure_cli", "azure_cli"),
        ("managed_identity", "managed_identity"),
    ],
)
def test_each_mode_parses(data: object, mode: str) -> None:
    assert AzureAuth.model_validate(data).mode == mode


def test_mode_list_is_complete() -> None:
    assert set(AUTH_MODES) == set(AzureAuth.model_fields)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"account_key": SECRET, "sas_token": "sig=x"},
        {"azure_cli": {}, "default": {}},
    ],
)
def test_exactly_one_mode(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="exactly one authentication mode"):
        AzureAuth.model_validate(data)


def test_unknown_keys_and_shorthands_rejected() -> None:
    with pytest.raises(ValidationError):
        AzureAuth.model_validate({"acount_key": SECRET})
    with pytest.raises(ValidationError):
        AzureAuth.model_validate({"service_principal": {"tenant_id": "t", "client_id": "c"}})
    with pytest.raises(ValidationError):
        AzureAuth.model_validate("account_key")  # needs a value: not a shorthand
    with pytest.raises(ValidationError):
        AzureAuth.model_validate({"account_key": "   "})


def test_sas_token_leading_question_mark_is_dropped() -> None:
    auth = AzureAuth.model_validate({"sas_token": "?sv=2024&sig=abc"})
    assert auth.secret("sas_token") == "sv=2024&sig=abc"
    with pytest.raises(ValidationError):
        AzureAuth.model_validate({"sas_token": "?"})


def test_secrets_never_shown() -> None:
    auth = AzureAuth.model_validate(
        {"service_principal": {"tenant_id": "t", "client_id": "c", "client_secret": SECRET}}
    )
    assert SECRET not in repr(auth)
    assert SECRET not in str(auth)
    assert SECRET not in json.dumps(auth.model_dump(mode="json"))
    key = AzureAuth.model_validate({"account_key": SECRET})
    assert SECRET not in repr(key) and SECRET not in key.model_dump_json()
    assert key.secret("account_key") == SECRET


@pytest.mark.parametrize(
    "data",
    [
        {"account_key": SECRET, "sas_token": SECRET},
        {"account_key": SECRET, "typo": 1},
        {"service_principal": {"tenant_id": "t", "client_secret": SECRET}},
        {"shared_access_key": {"key": SECRET}},
    ],
)
def test_validation_errors_do_not_quote_secrets(data: dict[str, object]) -> None:
    class Conn(Model):  # a parent config model, like a connection
        auth: AzureAuth

    for model, payload in ((AzureAuth, data), (Conn, {"auth": data})):
        with pytest.raises(ValidationError) as err:
            model.model_validate(payload)
        text = str(err.value)
        assert not any(SECRET[i : i + 6] in text for i in range(len(SECRET) - 6)), text


def test_frozen() -> None:
    auth = AzureAuth.model_validate("default")
    with pytest.raises(ValidationError):
        auth.default = None  # type: ignore[misc]


def test_every_field_has_a_description() -> None:
    schema = AzureAuth.model_json_schema()
    missing = []
    for name, model in [("AzureAuth", schema), *schema.get("$defs", {}).items()]:
        for field, spec in model.get("properties", {}).items():
            if not spec.get("description"):
                missing.append(f"{name}.{field}")
    assert missing == []
