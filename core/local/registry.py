"""The ``local`` provider: the running llama.cpp server as catalog data.

While ``orchestra local up`` has a server running, ``with_local_server`` returns the catalog
plus one provider (``local``, OpenAI-compatible, served) and one model ``local:<file stem>``:
economy tier, priced at exactly $0 (it is free, not unpriced), its context window from the
server's ``n_ctx`` (the GGUF's trained context, capped), and the capabilities llama.cpp gives
every model: streaming and JSON-schema output (enforced as a grammar). The shipped catalog
object is never changed: a new one is built, and cached per server record.
"""

from __future__ import annotations

from decimal import Decimal

from core.catalog import Catalog, ModelSpec, Price, ProviderSpec
from core.local.state import ServerRecord, running_server

PROVIDER = "local"
CAPABILITIES: frozenset[str] = frozenset({"stream", "json_schema"})
MAX_OUTPUT_TOKENS = 2048
FREE = Price(input_per_mtok=Decimal(0), output_per_mtok=Decimal(0),
             cached_input_per_mtok=Decimal(0), cache_write_per_mtok=Decimal(0),
             source="local (free)")


def local_provider(record: ServerRecord) -> ProviderSpec:
    """The provider entry of a running server."""
    return ProviderSpec(name=PROVIDER, label=f"llama.cpp on {record.host}:{record.port} (local)",
                        protocol="openai_chat", base_url=record.base_url, local=True, served=True)


def local_model(record: ServerRecord) -> ModelSpec:
    """The model entry of a running server: economy, free, limits from the server."""
    return ModelSpec.model_validate({
        "id": f"{PROVIDER}:{record.model_id}", "provider": PROVIDER, "name": record.model_id,
        "label": f"{record.model_label} (llama.cpp, local)", "tier": "economy",
        "context_window": record.context_window,
        "max_output_tokens": min(MAX_OUTPUT_TOKENS, record.context_window),
        "capabilities": CAPABILITIES, "price": FREE,
    })


def with_server(catalog: Catalog, record: ServerRecord) -> Catalog:
    """``catalog`` plus the ``local`` provider and model of ``record`` (a new object)."""
    model = local_model(record)
    return Catalog(tiers=catalog.tiers,
                   providers={**catalog.providers, PROVIDER: local_provider(record)},
                   models={**catalog.models, model.id: model})


class _LastBuilt:
    """The last catalog built, so repeated loads while one server runs return one object."""

    def __init__(self) -> None:
        self.key: tuple[Catalog, ServerRecord] | None = None
        self.value: Catalog | None = None

    def get(self, catalog: Catalog, record: ServerRecord) -> Catalog:
        key = self.key
        if key is None or key[0] is not catalog or key[1] != record or self.value is None:
            self.key, self.value = (catalog, record), with_server(catalog, record)
        return self.value


_LAST = _LastBuilt()


def with_local_server(catalog: Catalog) -> Catalog:
    """``catalog`` with the local server registered while one runs; else ``catalog`` itself."""
    record = running_server()
    return catalog if record is None else _LAST.get(catalog, record)


def local_model_ids(catalog: Catalog) -> list[str]:
    """The ids of every model served locally (the ``local`` server's and Ollama's)."""
    return [m.id for m in catalog.models.values() if catalog.providers[m.provider].local]
