"""Orchestra's exception tree.

Every error Orchestra raises derives from ``OrchestraError``. Caller mistakes are kept apart from
provider failures so that the router can decide what to do by type, never by message text::

    OrchestraError
    ├── ConfigError              bad configuration or option (how to fix it is in the message)
    │   └── UnknownModel         a model id that is not in the catalog
    ├── PlanError                a malformed plan: duplicate ids, unknown dependencies, cycles
    ├── TemplateError            unknown prompt template, missing variable, bad template file
    ├── BudgetExceeded           a call's reservation would break a budget
    ├── LedgerError              the ledger could not be opened or written
    ├── AllModelsFailed          every model of a fallback chain failed (keeps each cause)
    ├── PatternFailed            a multi-model pattern produced no usable answer
    └── ProviderError            a provider call failed: status_code, retry_after, retryable
        ├── RateLimited          429 (retryable; honours retry-after)
        ├── Overloaded           529 / 503 (retryable)
        ├── ServerError          other 5xx (retryable)
        ├── ProviderTimeout      no answer within the timeout (retryable)
        ├── ConnectionFailed     connection refused or dropped, stream cut mid-way (retryable)
        ├── MalformedResponse    a body that does not parse as the protocol says (retryable)
        ├── InvalidOutput        an answer that arrived but failed its check (e.g. a schema)
        ├── ProviderUnavailable  not called: its breaker is open or its key was refused
        ├── AuthFailed           401 / 403: the key is wrong or lacks access
        ├── BadRequest           400 / 404 / 422: the request itself is wrong
        │   └── ContextLengthExceeded   the prompt plus output does not fit the context window
        └── ContentFiltered      the provider refused the content

Error messages never contain API keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.types import AttemptRecord, ChatResult


class OrchestraError(Exception):
    """Base of every error Orchestra raises."""


class ConfigError(OrchestraError):
    """A configuration value or option is wrong; the message says how to fix it."""


class UnknownModel(ConfigError):
    """A model id that the catalog does not know."""


class PlanError(OrchestraError):
    """A plan that cannot be run: duplicate ids, unknown dependencies or a cycle."""


class TemplateError(OrchestraError):
    """A prompt template that is unknown, badly written or missing a variable."""


class BudgetExceeded(OrchestraError):
    """A call whose worst-case cost would exceed a budget; it was not sent."""


class LedgerError(OrchestraError):
    """The ledger could not be opened or written."""


class ProviderError(OrchestraError):
    """A failed provider call.

    Attributes:
        provider: provider name (``anthropic``, ``openai``...).
        model: the catalog model id, when known.
        status_code: HTTP status, or None for transport failures.
        retry_after: seconds the provider asked us to wait, if it said.
        retryable: whether trying the same call again can succeed.
        body: a short excerpt of the error body (never contains the key).
    """

    retryable_default = False

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        model: str = "",
        status_code: int | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
        body: str = "",
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.model = model
        self.status_code = status_code
        self.retry_after = retry_after
        self.retryable = self.retryable_default if retryable is None else retryable
        self.body = body[:500]

    @property
    def error_class(self) -> str:
        """The class name, as stored in the ledger's ``error_class`` column."""
        return type(self).__name__


class RateLimited(ProviderError):
    """HTTP 429: too many requests; honour ``retry_after``."""

    retryable_default = True


class Overloaded(ProviderError):
    """HTTP 529 (Anthropic) or 503: the provider is overloaded."""

    retryable_default = True


class ServerError(ProviderError):
    """Any other HTTP 5xx."""

    retryable_default = True


class ProviderTimeout(ProviderError):
    """No answer within the client timeout."""

    retryable_default = True


class ConnectionFailed(ProviderError):
    """The connection could not be made, or dropped (a stream cut mid-way included)."""

    retryable_default = True


class MalformedResponse(ProviderError):
    """A body that does not parse as the wire protocol says it should."""

    retryable_default = True


class InvalidOutput(ProviderError):
    """An answer that arrived but failed the caller's check (e.g. its JSON schema).

    It was paid for: ``result`` keeps the rejected answer (text, usage, cost), so the attempt
    is recorded with its cost and a caller can ask for a repair.
    """

    def __init__(self, message: str, *, result: "ChatResult | None" = None,
                 **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.result = result


class ProviderUnavailable(ProviderError):
    """The model was not called: its provider's breaker is open, or its key was refused
    earlier in this session."""


class AuthFailed(ProviderError):
    """HTTP 401/403: the key is missing, wrong, or lacks access."""


class BadRequest(ProviderError):
    """HTTP 400/404/422: the request itself is wrong; retrying will not help."""


class ContextLengthExceeded(BadRequest):
    """The prompt plus requested output does not fit the model's context window."""


class ContentFiltered(ProviderError):
    """The provider refused to answer because of its content policy."""


class PatternFailed(OrchestraError):
    """A pattern ran but produced no usable answer (its message says why)."""


class AllModelsFailed(OrchestraError):
    """Every model of a fallback chain failed; ``errors`` keeps each cause in order and
    ``attempts`` the record of every HTTP try that was made."""

    def __init__(self, message: str, errors: list[OrchestraError],
                 attempts: "list[AttemptRecord] | None" = None) -> None:
        super().__init__(message)
        self.errors = errors
        self.attempts = attempts or []
