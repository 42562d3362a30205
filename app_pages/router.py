"""Router: the learned router's cost–quality curve, on uploaded tables and on the ledger."""

import pandas as pd
import streamlit as st

from core.errors import OrchestraError
from core.routing.learned_ranker import model_file, train_from_ledger
from ui.components import empty_state, metrics_grid, page_header
from ui.router_view import (
    curve_figure, evaluate_ledger, evaluate_uploads, headline_rows, trained_rows,
)

settings, _ = page_header("Router", "How much quality the learned router keeps for what it saves: its "
            "cost–quality curve against every single model, the zero router (the best mix of "
            "two single models) and the oracle.")
policy, ledger = settings.policy, settings.ledger()
st.caption(f"Policy: `[routing] mode = \"{policy.routing.mode}\"`, quality weight "
           f"{policy.routing.quality_weight:.2f}"
           + (f", target quality {policy.routing.target_quality:.2f}"
              if policy.routing.target_quality else ""))


def show(result_key: str) -> None:
    """Draw a stored evaluation."""
    result = st.session_state.get(result_key)
    if result is None:
        return
    metrics_grid(headline_rows(result))
    st.plotly_chart(curve_figure(result, policy.routing.quality_weight),
                    use_container_width=True)
    st.caption(f"Chosen by cross-validation on the train side only: features "
               f"{result.chosen.features}, alpha {result.chosen.alpha:g}, blend "
               f"{result.chosen.blend:g}. Under the zero router on "
               f"{result.below_zero_router_share:.0%} of the cost range.")


st.subheader("Offline evaluation on RouterBench-format tables")
left, right = st.columns(2)
train_file = left.file_uploader("train table (CSV)", type=["csv"], key="router_train")
test_file = right.file_uploader("test table (CSV)", type=["csv"], key="router_test")
if st.button("Evaluate", disabled=train_file is None or test_file is None):
    with st.spinner("cross-validating on the train table, then scoring the test table…"):
        try:
            st.session_state["router_tables"] = evaluate_uploads(train_file.getvalue(),
                                                                 test_file.getvalue())
        except OrchestraError as exc:
            st.error(str(exc))
show("router_tables")

st.subheader("The ledger's own outcomes")
st.caption("Ratings, judge scores, eval checks and imported tables: 70% of the prompts to "
           "learn from, 30% held out.")
if st.button("Evaluate the ledger's outcomes"):
    with st.spinner("evaluating…"):
        try:
            found = evaluate_ledger(ledger)
        except OrchestraError as exc:
            found = None
            st.error(str(exc))
        st.session_state["router_ledger"] = found
        if found is None:
            empty_state("Not enough outcomes yet: import a table with `orchestra outcomes "
                        "import FILE --format routerbench`, rate answers or run evals.")
show("router_ledger")

st.subheader("Retrain from the ledger")
st.caption(f"The model file is `{model_file(ledger)}`; runs reuse it while the outcomes are "
           "unchanged and retrain when they change.")
if st.button("Retrain now (with cross-validation)"):
    with st.spinner("training…"):
        trained = train_from_ledger(ledger, cross_validate=True)
    if trained is None:
        empty_state("Nothing to learn from yet: the ledger holds too few outcomes.")
    else:
        hyper = trained.model.hyper
        st.success(f"Trained on {len(trained.neighbourhood.known)} prompts "
                   f"(features {hyper.features}, alpha {hyper.alpha:g}, blend {hyper.blend:g}, "
                   f"seed {trained.model.seed}, data {trained.model.data_hash[:12]}).")
        st.dataframe(pd.DataFrame(trained_rows(trained, ledger)), hide_index=True)
