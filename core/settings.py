"""Settings: everything an entry point reads from its surroundings, read once and passed down.

An entry point (a CLI command, the dashboard, a test) builds one ``Settings`` from its
environment — ``Settings.from_environ(os.environ)`` — and hands it to what it runs. The catalog
(``ORCHESTRA_CATALOG``), the policy (``ORCHESTRA_POLICY`` and its local override), the ledger
file (``ORCHESTRA_DB``), the sandbox options (``ORCHESTRA_SANDBOX_*``), every provider's key
(explicit keys first, e.g. the dashboard's secrets, then ``*_API_KEY``) and base-URL overrides
(``*_BASE_URL``, ``OLLAMA_HOST``) are resolved here, so nothing below reads the environment and
no key is ever written back into it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.calls.gateway import Gateway
from core.catalog import Catalog, default_catalog
from core.ledger import Ledger
from core.ledger.db import resolve_db_path
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
                     keys: Mapping[str, str] | None = None,
                     policy: Policy | None = None) -> "Settings":
        """Settings read from ``environ``; ``db``, ``keys`` and ``policy`` win over it."""
        catalog = default_catalog()
        found = {name: key for name, spec in catalog.providers.items()
                 if (key := resolve_key(spec, keys, environ))}
        urls = {name: spec.resolved_base_url(environ) for name, spec in catalog.providers.items()
                if spec.base_url_env and environ.get(spec.base_url_env, "").strip()}
        return cls(catalog=catalog, policy=policy or load_policy(environ=environ),
                   db_path=resolve_db_path(db, environ), sandbox=SandboxConfig.from_env(environ),
                   keys=found, base_urls=urls)

    def gateway(self, **options: Any) -> Gateway:
        """A gateway over these settings: live where a key (or a local server) is set."""
        options.setdefault("max_in_flight_per_provider", self.policy.concurrency.per_provider)
        return Gateway(self.catalog, keys=self.keys, base_urls=self.base_urls,
                       sandbox=self.sandbox, environ={}, **options)

    def ledger(self) -> Ledger:
        """The ledger these settings name."""
        return Ledger(self.db_path)
