"""The optional Bedrock mode. Bedrock cannot run here: botocore's Stubber stands in for
bedrock-runtime and bedrock-agent-runtime and checks every request against the real
service models. The numbers must always come from the query, never from the model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from onsflux.answer.bedrock import BedrockKnowledge, BedrockPhraser, only_known_numbers
from onsflux.answer.service import AnswerService
from onsflux.exceptions import ConfigError
from onsflux.query.result import QueryResult, Row

ANSWER = ("A carga no Sudeste/Centro-Oeste teve pico de 51.234 MW, em 15/01/2024 às 15:00 "
          "(de 01/01/2024 00:00 a 31/01/2024 23:59, horário de Brasília).")


def converse_reply(text: str) -> dict[str, Any]:
    return {"output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": "end_turn", "usage": {"inputTokens": 10, "outputTokens": 10,
                                                "totalTokens": 20},
            "metrics": {"latencyMs": 5}}


@pytest.fixture
def runtime() -> Any:
    return boto3.client("bedrock-runtime", region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x")


def test_numbers_guard() -> None:
    assert only_known_numbers("Em janeiro de 2024 o pico foi 51.234 MW no dia 15/01 às 15:00",
                              ANSWER)
    assert not only_known_numbers("O pico foi 51.300 MW", ANSWER)
    assert not only_known_numbers("O pico foi 51,234.7 MW", ANSWER)


def test_phrasing_is_used_when_it_keeps_the_numbers(runtime: Any) -> None:
    text = "Em janeiro de 2024, o pico de carga do Sudeste/Centro-Oeste foi 51.234 MW (15/01/2024, 15:00)."
    with Stubber(runtime) as stub:
        stub.add_response("converse", converse_reply(text), {
            "modelId": "anthropic.claude-3-haiku", "system": [{"text": stub_any()}],
            "messages": stub_any(), "inferenceConfig": {"maxTokens": 400, "temperature": 0.0}})
        got, why = BedrockPhraser("anthropic.claude-3-haiku", region="us-east-1",
                                  client=runtime).phrase("Qual o pico?", ANSWER)
    assert got == text and why is None


def test_phrasing_with_a_made_up_number_is_discarded(runtime: Any) -> None:
    with Stubber(runtime) as stub:
        stub.add_response("converse", converse_reply("O pico foi cerca de 52 mil MW."))
        got, why = BedrockPhraser("m", region="us-east-1", client=runtime).phrase("q", ANSWER)
    assert got is None and "numbers not in the query result (52)" in (why or "")


def test_bedrock_errors_keep_the_template(runtime: Any) -> None:
    with Stubber(runtime) as stub:
        stub.add_client_error("converse", "ThrottlingException", http_status_code=429)
        got, why = BedrockPhraser("m", region="us-east-1", client=runtime).phrase("q", ANSWER)
    assert got is None and "ThrottlingException" in (why or "")


def test_knowledge_base_retrieval() -> None:
    agent = boto3.client("bedrock-agent-runtime", region_name="us-east-1",
                         aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(agent) as stub:
        stub.add_response("retrieve", {"retrievalResults": [
            {"content": {"text": "A carga é publicada em MWmed."},
             "location": {"type": "S3", "s3Location": {"uri": "s3://kb/docs/carga.md"}},
             "score": 0.81}]},
            {"knowledgeBaseId": "KB12345678", "retrievalQuery": {"text": "carga"},
             "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 2}}})
        [p] = BedrockKnowledge("KB12345678", region="us-east-1", client=agent).search("carga", k=2)
    assert p.document == "s3://kb/docs/carga.md" and p.score == 0.81
    with Stubber(agent) as stub:
        stub.add_client_error("retrieve", "AccessDeniedException")
        assert BedrockKnowledge("KB12345678", region="us-east-1", client=agent).search("x") == []
    with pytest.raises(ConfigError, match="knowledge base 'short'"):  # the real model's rules
        BedrockKnowledge("short", region="us-east-1", client=agent).search("x")


class _Executor:
    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows

    def run(self, spec: Any, **options: Any) -> QueryResult:
        return QueryResult(list(self.rows), False, "influxdb", "influxql", "SELECT ...")


def test_service_uses_the_model_only_for_wording(runtime: Any) -> None:
    t = int(datetime(2024, 1, 15, 18, tzinfo=UTC).timestamp()) * 10**9
    executor = _Executor([Row(t, "consumption_data", "demand_mw", 51234.0,
                              {"region": "southeast"})])
    with Stubber(runtime) as stub:
        stub.add_response("converse", converse_reply("O pico foi 99.999 MW."))  # made up
        svc = AnswerService(executor, phraser=BedrockPhraser("m", region="us-east-1",  # type: ignore[arg-type]
                                                            client=runtime),
                            now=lambda: datetime(2024, 6, 1, tzinfo=UTC))
        body = svc.ask("Qual foi o pico de carga no Sudeste em janeiro de 2024?")
    assert body["answer_source"] == "template" and "51.234 MW" in body["answer"]
    assert any("discarded" in w for w in body["warnings"])
    assert body["time_series_data"][0]["value"] == 51234.0


def stub_any() -> Any:
    from botocore.stub import ANY

    return ANY
