"""Sandbox settings: latency scale, the fault-injection seed and rate, and per-target overrides.

``SandboxConfig.from_env()`` reads ``ORCHESTRA_SANDBOX_FAILURE_RATE``, ``ORCHESTRA_SANDBOX_SEED``
and ``ORCHESTRA_SANDBOX_LATENCY_SCALE``; a bad value raises ``ConfigError`` saying how to fix it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import ConfigError

FaultKind = Literal[
    "rate_limit",  # 429 with retry-after / retry-after-ms and the vendor's rate-limit body
    "server_error",  # 500
    "unavailable",  # 503
    "overloaded",  # 529 overloaded_error (Anthropic only)
    "hang",  # no answer until the client gives up (at most hang_seconds, then a 504)
    "reset",  # the connection drops mid-body
    "malformed",  # a 200 whose body is not valid JSON
    "content_filter",  # a 200 refusal in the vendor's words (content_filter, refusal, SAFETY)
]
ALL_FAULT_KINDS: tuple[FaultKind, ...] = (
    "rate_limit",
    "server_error",
    "unavailable",
    "overloaded",
    "hang",
    "reset",
    "malformed",
    "content_filter",
)

ENV_FAILURE_RATE = "ORCHESTRA_SANDBOX_FAILURE_RATE"
ENV_SEED = "ORCHESTRA_SANDBOX_SEED"
ENV_LATENCY_SCALE = "ORCHESTRA_SANDBOX_LATENCY_SCALE"
ENV_TEXT = "ORCHESTRA_SANDBOX_TEXT"  # "local": answer text from the local model (core.local)


class FaultSpec(BaseModel):
    """Fault injection for one provider or model.

    An override exists to make its target misbehave, so ``failure_rate`` defaults to 1 (every
    request fails); set it lower for intermittent faults.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    failure_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    kinds: tuple[FaultKind, ...] = ALL_FAULT_KINDS
    hang_seconds: float = Field(default=30.0, ge=0.0)
    retry_after_seconds: float = Field(default=1.0, ge=0.0)


class SandboxConfig(BaseModel):
    """How the sandbox behaves.

    Attributes:
        failure_rate: probability that a request gets a fault (0 = never, the default).
        seed: seeds the generated text and the fault draws; same seed, same answers.
        latency_scale: multiplies every simulated delay (0 = answer instantly).
        fault_kinds: the kinds drawn from when ``failure_rate`` fires.
        hang_seconds: the longest a ``hang`` fault holds a request; it ends as soon as the
            client gives up (its timeout), else at this bound with a 504 timeout error.
        retry_after_seconds: what a 429 asks the client to wait (times ``latency_scale``).
        faults: overrides keyed by model id (``openai:gpt-4o``) or provider (``anthropic``);
            a model id wins over its provider.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    failure_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    seed: int = 0
    latency_scale: float = Field(default=1.0, ge=0.0)
    fault_kinds: tuple[FaultKind, ...] = ALL_FAULT_KINDS
    hang_seconds: float = Field(default=30.0, ge=0.0)
    retry_after_seconds: float = Field(default=1.0, ge=0.0)
    faults: dict[str, FaultSpec] = Field(default_factory=dict)
    text: Literal["generated", "local"] = "generated"  # where answer text comes from

    def fault_spec_for(self, model_id: str, provider: str) -> FaultSpec:
        """The fault settings that apply to one model: its override, its provider's, or global."""
        override = self.faults.get(model_id) or self.faults.get(provider)
        if override is not None:
            return override
        return FaultSpec(
            failure_rate=self.failure_rate,
            kinds=self.fault_kinds,
            hang_seconds=self.hang_seconds,
            retry_after_seconds=self.retry_after_seconds,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None,
                 **overrides: object) -> "SandboxConfig":
        """Settings from the ``ORCHESTRA_SANDBOX_*`` variables of ``environ`` (default: the
        process environment); ``overrides`` win over them."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field, var, kind in (
            ("failure_rate", ENV_FAILURE_RATE, "a number between 0 and 1, e.g. 0.1"),
            ("seed", ENV_SEED, "an integer, e.g. 42"),
            ("latency_scale", ENV_LATENCY_SCALE, "a number >= 0 (0 = instant), e.g. 0.5"),
        ):
            raw = env.get(var, "").strip()
            if raw:
                values[field] = _parse_env(var, raw, field, kind)
        text = env.get(ENV_TEXT, "").strip()
        if text:
            if text not in ("generated", "local"):
                raise ConfigError(f"{ENV_TEXT}={text!r} is invalid: set it to local (text from "
                                  "`orchestra local up`'s model) or generated, or unset it")
            values["text"] = text
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.build(**values)

    @classmethod
    def build(cls, **values: object) -> "SandboxConfig":
        """Validated settings; a bad value raises ``ConfigError`` naming the field."""
        try:
            return cls(**values)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"sandbox setting {where}: {first['msg']}") from exc


def _parse_env(var: str, raw: str, field: str, expected: str) -> object:
    """One environment value, validated as the field it feeds."""
    try:
        value: object = int(raw) if field == "seed" else float(raw)
        SandboxConfig(**{field: value})
    except (ValueError, ValidationError) as exc:
        raise ConfigError(f"{var}={raw!r} is invalid: set it to {expected}, or unset it") from exc
    return value
