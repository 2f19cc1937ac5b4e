"""Optional AWS mode: Bedrock Knowledge Base retrieval and a Bedrock model to phrase answers.

Off by default (``ONSFLUX_ANSWER_MODE=local``). With ``bedrock``:

- ``BedrockKnowledge`` replaces the local BM25 knowledge base: ``retrieve`` on the
  Knowledge Base ``ONSFLUX_BEDROCK_KB_ID`` (bedrock-agent-runtime).
- ``BedrockPhraser`` asks the model ``ONSFLUX_BEDROCK_MODEL_ID`` (bedrock-runtime
  ``converse``, temperature 0) to rephrase the composed answer for the question. The
  numbers always come from the query: the model sees the composed answer and may only
  reword it. Its text is accepted only if every number in it also appears in the composed
  answer; otherwise — or on any Bedrock error — the composed answer stands and a warning
  says why. A model can make an answer read better, never make a number up.
"""

from __future__ import annotations

import re
from typing import Any

from .knowledge import Passage

_NUMBER = re.compile(r"\d[\d.,]*\d|\d")


def _normalize(token: str) -> str:
    """Digits only, so ``44.100,5`` (pt), ``44,100.5`` (en) and ``44100.5`` compare equal."""
    return re.sub(r"\D", "", token).lstrip("0") or "0"


def numbers_in(text: str) -> set[str]:
    return {_normalize(t) for t in _NUMBER.findall(text)}


def only_known_numbers(candidate: str, reference: str) -> bool:
    """True when every number of ``candidate`` appears in ``reference``."""
    return numbers_in(candidate) <= numbers_in(reference)


class BedrockKnowledge:
    """``search(query, k)`` like ``KnowledgeBase``, answered by a Bedrock Knowledge Base."""

    def __init__(self, knowledge_base_id: str, *, region: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("bedrock-agent-runtime", region_name=region)
        self.client = client
        self.knowledge_base_id = knowledge_base_id

    def search(self, query: str, k: int = 3) -> list[Passage]:
        from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

        from ..exceptions import ConfigError

        try:
            out = self.client.retrieve(
                knowledgeBaseId=self.knowledge_base_id,
                retrievalQuery={"text": query[:1000]},
                retrievalConfiguration={"vectorSearchConfiguration": {"numberOfResults": k}},
            )
        except ParamValidationError as exc:  # our configuration, not Bedrock's weather
            raise ConfigError(f"Bedrock knowledge base {self.knowledge_base_id!r}: {exc}") from exc
        except (ClientError, BotoCoreError):
            return []  # sources are a courtesy: a retrieval failure never fails the answer
        passages = []
        for r in out.get("retrievalResults", []):
            location = r.get("location", {})
            uri = (location.get("s3Location", {}).get("uri")
                   or location.get("webLocation", {}).get("url") or "bedrock-kb")
            passages.append(Passage(document=uri, title=uri.rsplit("/", 1)[-1],
                                    text=r.get("content", {}).get("text", ""),
                                    score=round(float(r.get("score", 0.0)), 4)))
        return passages


_SYSTEM = (
    "You rephrase answers about Brazil's electricity data (ONS) for analysts. Rewrite the "
    "given answer so it reads naturally and answers the question, in the same language as "
    "the question. Use only the numbers, units, dates and names in the given answer; never "
    "add, round or compute numbers. Reply with the rewritten answer only."
)


class BedrockPhraser:
    """Rewords a composed answer with a Bedrock model; numbers are checked, never trusted."""

    def __init__(self, model_id: str, *, region: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("bedrock-runtime", region_name=region)
        self.client = client
        self.model_id = model_id

    def phrase(self, question: str, answer: str) -> tuple[str | None, str | None]:
        """(the model's text, None) when it may be used; (None, why not) otherwise."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            out = self.client.converse(
                modelId=self.model_id,
                system=[{"text": _SYSTEM}],
                messages=[{"role": "user", "content": [
                    {"text": f"Question: {question}\n\nAnswer to rephrase: {answer}"}]}],
                inferenceConfig={"maxTokens": 400, "temperature": 0.0},
            )
            blocks = out["output"]["message"]["content"]
            text = " ".join(b["text"] for b in blocks if "text" in b).strip()
        except (ClientError, BotoCoreError, KeyError, TypeError) as exc:
            return None, f"Bedrock phrasing unavailable ({type(exc).__name__}); template answer kept"
        if not text:
            return None, "Bedrock returned no text; template answer kept"
        if not only_known_numbers(text, answer):
            extra = sorted(numbers_in(text) - numbers_in(answer))[:5]
            return None, ("Bedrock phrasing discarded: it contained numbers not in the query "
                          f"result ({', '.join(extra)}); template answer kept")
        return text, None
