"""One translation of botocore errors: transient ones are retried, the rest are terminal."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from onsflux.aws import translate_botocore
from onsflux.exceptions import ConfigError, ServerUnavailable, SourceError, StateStoreError


def client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "msg"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


@pytest.mark.parametrize(("exc", "expected"), [
    (client_error("ThrottlingException", 400), ServerUnavailable),
    (client_error("ProvisionedThroughputExceededException", 400), ServerUnavailable),
    (client_error("SlowDown", 503), ServerUnavailable),
    (client_error("Anything", 500), ServerUnavailable),
    (client_error("AccessDenied", 403), StateStoreError),
    (client_error("ValidationException", 400), StateStoreError),
    (EndpointConnectionError(endpoint_url="https://x"), ServerUnavailable),
    (NoCredentialsError(), StateStoreError),
])
def test_transient_or_terminal(exc: Exception, expected: type) -> None:
    err = translate_botocore(exc, service="DynamoDB", where="put_item on 't'",
                             terminal=StateStoreError)
    assert type(err) is expected and "put_item on 't'" in str(err)


def test_source_errors_carry_the_path_and_other_terminals_the_place() -> None:
    err = translate_botocore(client_error("AccessDenied", 403), service="S3", where="s3://b/k")
    assert isinstance(err, SourceError) and err.path == "s3://b/k" and "AccessDenied" in str(err)
    err = translate_botocore(client_error("ResourceNotFoundException", 400),
                             service="Secrets Manager", where="secret arn:x", terminal=ConfigError)
    assert isinstance(err, ConfigError) and str(err).startswith("secret arn:x:")
