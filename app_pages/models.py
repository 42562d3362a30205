"""Models & budgets: the catalog, keys (masked), budgets with today's burn, breakers, policy."""

import pandas as pd
import streamlit as st

from core.cli.models import catalog_rows
from core.errors import ConfigError
from ui.figures import (
    breaker_rows, budget_rows, edited_policy, key_rows, spend_today_by_provider,
)
from core.policy import policy_save_path, save_policy
from ui.views import money
from ui.components import page_header, shared_breakers
from ui.local_view import render_local_panel

settings, gateway = page_header("Models & budgets", "What Orchestra can call, what it costs, "
                               "and the limits it keeps to.")
modes = gateway.modes()
catalog, policy = settings.catalog, settings.policy

st.subheader("Catalog")
rows = catalog_rows(catalog, gateway)
table = pd.DataFrame([{
    "model": r["id"], "tier": r["tier"], "mode": r["mode"],
    "$/M in · cached · out": " · ".join(money(r[k]) for k in (
        "input_per_mtok", "cached_input_per_mtok", "output_per_mtok")),
    "price from": r["price_source"] + (f" ({r['price_as_of']})" if r["price_as_of"] else ""),
    "context": f"{r['context_window']:,}", "capabilities": ", ".join(r["capabilities"]),
} for r in rows])
# Seven columns that fit 1400 px: nothing is hidden past the right edge.
st.dataframe(table, hide_index=True, width="stretch", column_config={
    "model": st.column_config.TextColumn(width="medium"),
    "tier": st.column_config.TextColumn(width="small"),
    "mode": st.column_config.TextColumn(width="small"),
    "context": st.column_config.TextColumn(width="small"),
}, height=min(36 * len(table) + 40, 600))

left, right = st.columns([3, 2])
with left:
    st.subheader("Keys")
    st.table(pd.DataFrame(key_rows(settings, modes)).set_index("provider"))
with right:
    st.subheader("Circuit breakers")
    st.caption("Every call this dashboard has made (runs, Compare, the judge, the planner).")
    st.table(pd.DataFrame(breaker_rows(catalog.providers, shared_breakers().state()))
             .set_index("provider"))

render_local_panel(settings)

st.subheader("Budgets: today's burn")
burn = budget_rows(policy, spend_today_by_provider(settings.ledger()), catalog.providers)
st.dataframe(pd.DataFrame(burn), hide_index=True, width="stretch", column_config={
    "burn": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="percent")})

st.subheader("Policy")
st.caption(f"Edits are saved to `{policy_save_path()}`, layered over the shipped defaults "
           "(`data/policy.toml` itself is never changed). The Run page's budget starts at the "
           "per-run budget.")
with st.form("policy"):
    tiers, share, money_col = st.columns(3)
    with tiers:
        st.markdown("**Tier mapping** (complexity 1–5)")
        economy_max = st.number_input("Economy up to", 0, 5, policy.tiers.economy_max)
        balanced_max = st.number_input("Balanced up to", 0, 5, policy.tiers.balanced_max)
    with share:
        st.markdown("**Concentration cap**")
        cap = st.slider("Max share of calls per provider", 0.05, 1.0,
                        float(policy.concentration.cap), 0.05)
        min_calls = st.number_input("Applies after calls", 1, 10_000,
                                    policy.concentration.min_calls)
    with money_col:
        st.markdown("**Budgets** (USD)")
        per_run = st.number_input("Per run", 0.0001, 1e6, float(policy.budget.per_run_usd),
                                  format="%.4f")
        per_provider = st.number_input("Per provider per day", 0.01, 1e6,
                                       float(policy.budget.per_provider_per_day_usd))
        global_day = st.number_input("All providers per day", 0.01, 1e6,
                                     float(policy.budget.global_per_day_usd))
        warn_at = st.slider("Warn at", 0.05, 1.0, float(policy.budget.warn_at), 0.05)
    if st.form_submit_button("Save policy", type="primary"):
        try:
            saved = save_policy(edited_policy(policy, {
                "tiers": {"economy_max": economy_max, "balanced_max": balanced_max},
                "concentration": {"cap": cap, "min_calls": min_calls},
                "budget": {"per_run_usd": str(per_run), "per_provider_per_day_usd":
                           str(per_provider), "global_per_day_usd": str(global_day),
                           "warn_at": warn_at},
            }))
        except ConfigError as exc:
            st.error(f"Not saved. {exc}")
        else:
            st.success(f"Policy saved to {saved}.")
