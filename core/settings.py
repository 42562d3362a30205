"""Settings: everything an entry point reads from its surroundings, read once and passed down.

An entry point (a CLI command, the dashboard, a test) builds one ``Settings`` from its
environment — ``Settings.from_environ(os.environ)`` — and hands it to what it runs. The catalog
(``ORCHESTRA_CATALOG``), the policy (``ORCHESTRA_POLICY`` and its local override), the ledger
file (``ORCHESTRA_DB``), the sandbox options (``ORCHESTRA_SANDBOX_*``), every provider's key
(explicit keys first, e.g. the dashboard's secrets, then ``*_API_KEY``) and base-URL overrides
(``*_BASE_URL``, ``OLLAMA_HOST``) are resolved here, so nothing below reads the environment and
no key is ever written back into it.

Local-only operation (``[routing] local_only`` in the policy, or ``--local-only``) is part of
the settings: ``Settings.gateway`` then builds a ``LocalOnlyGateway``, so planning, routing,
patterns and every call go to running local models.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core.calls.gateway import Gateway
from core.catalog import Catalog, default_catalog
from core.ledger import Ledger
from core.ledger.db import resolve_db_path
from core.local.only import gateway_type
from core.policy import Policy, load_policy
from core.sandbox.config import SandboxConfig
from core.secrets import resolve_key


@dataclass(frozen=True)
class Settings:
    """What an entry point runs with.

    Attributes:
        catalog: providers and models.
        policy: the routing policy.
        db_path: the ledger file.
        sandbox: options of the in-process sandbox.
        keys: each provider's key that is set, by provider name (never printed or stored).
        base_urls: base-URL overrides by provider name (a proxy, a gateway, a local server).
    """

    catalog: Catalog
    policy: Policy
    db_path: Path
    sandbox: SandboxConfig
    keys: Mapping[str, str] = field(default_factory=dict, repr=False)
    base_urls: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], *, db: Path | str | None = None,
                     keys: Mapping[str, str] | None = None, policy: Policy | None = None,
                     local_only: bool = False) -> "Settings":
        """Settings read from ``environ``; ``db``, ``keys`` and ``policy`` win over it, and
        ``local_only`` (``--local-only``) turns local-only operation on over the policy."""
        catalog = default_catalog()
        found = {name: key for name, spec in catalog.providers.items()
                 if (key := resolve_key(spec, keys, environ))}
        urls = {name: spec.resolved_base_url(environ) for name, spec in catalog.providers.items()
                if spec.base_url_env and environ.get(spec.base_url_env, "").strip()}
        settings = cls(catalog=catalog, policy=policy or load_policy(environ=environ),
                       db_path=resolve_db_path(db, environ),
                       sandbox=SandboxConfig.from_env(environ), keys=found, base_urls=urls)
        return settings.with_local_only() if local_only else settings

    @property
    def local_only(self) -> bool:
        """True when every call is restricted to running local models."""
        return self.policy.routing.local_only

    def with_local_only(self, on: bool = True) -> "Settings":
        """These settings with local-only operation turned on (or off)."""
        routing = self.policy.routing.model_copy(update={"local_only": on})
        return replace(self, policy=self.policy.model_copy(update={"routing": routing}))

    def with_sandbox(self, **changes: Any) -> "Settings":
        """These settings with sandbox options changed, e.g. ``text="local"``."""
        return replace(self, sandbox=self.sandbox.model_copy(update=changes))

    def gateway(self, *, local_only: bool | None = None, **options: Any) -> Gateway:
        """A gateway over these settings: live where a key (or a local server) is set; a
        ``LocalOnlyGateway`` when local-only is on (``local_only`` overrides the policy: the
        dashboard shows every provider's mode with ``local_only=False``)."""
        options.setdefault("max_in_flight_per_provider", self.policy.concurrency.per_provider)
        kind = gateway_type(self.local_only if local_only is None else local_only)
        return kind(self.catalog, keys=self.keys, base_urls=self.base_urls,
                    sandbox=self.sandbox, environ={}, **options)

    def ledger(self) -> Ledger:
        """The ledger these settings name."""
        return Ledger(self.db_path)
