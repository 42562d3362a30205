"""Compare: one prompt to several models at once, answers streamed side by side, then rated."""

import streamlit as st

from core.errors import OrchestraError
from ui.jobs import DEFAULT_RUBRIC, CompareJob, default_compare_models, save_ratings
from core.prompts import load_library
from ui.figures import answer_stats, judge_line
from ui.views import money
from ui.components import empty_state, page_header, shared_breakers
from ui.tools_view import comparison_tool_calls, render_tool_calls

JOB_KEY = "compare_job"
POLL_S = 0.3
PER_ROW = 3

settings, gateway = page_header("Compare", "The same prompt to several models at once, "
                               "streamed side by side, with latency, tokens and cost.")
catalog = settings.catalog


def prompt_inputs() -> tuple[str, str | None, dict[str, str]]:
    """The prompt, or a library template and its variables."""
    library = load_library()
    source = st.radio("Prompt from", ["Write a prompt", "Prompt library"], horizontal=True,
                      disabled=not library)
    if source == "Write a prompt":
        return st.text_area("Prompt", height=120, key="compare_prompt"), None, {}
    name = st.selectbox("Template", sorted(library),
                        format_func=lambda n: f"{n} — {library[n].description}")
    template = library[name]
    values = {}
    for var, spec in template.variables.items():
        values[var] = st.text_input(var, value=spec.default or "", help=spec.description,
                                    key=f"var_{name}_{var}")
    extra = st.text_area("Extra instructions (optional)", height=68, key="compare_extra")
    return extra, name, values


def start_form() -> None:
    """Prompt, models and the Compare button."""
    prompt, template, values = prompt_inputs()
    models = st.multiselect(
        "Models", list(catalog.models), default=default_compare_models(catalog),
        format_func=lambda m: f"{m} ({catalog.models[m].tier})",
    )
    max_tokens = st.slider("Max output tokens per answer", 64, 4000, 600, 64)
    judge_model = st.selectbox("Judge model (optional)", [None, *catalog.models],
                               format_func=lambda m: "no judge" if m is None else m)
    rubric = st.text_input("Rubric for the judge", DEFAULT_RUBRIC, disabled=judge_model is None)
    if st.button("Compare", type="primary", disabled=not models):
        if not (prompt.strip() or template):
            st.error("Write a prompt first (or pick a template).")
            return
        st.session_state[JOB_KEY] = CompareJob.start(
            prompt.strip() or None, models, template=template, variables=values,
            max_tokens=max_tokens, judge_model=judge_model, rubric=rubric, settings=settings,
            breakers=shared_breakers())  # Models & budgets shows what these calls did


STARS = [None, 1, 2, 3, 4, 5]


def render_answers(job: CompareJob, rate: bool = False) -> dict[str, int | None]:
    """The answers in columns: streamed text so far, then the figures under each and, once the
    comparison is done (``rate``), a one-line star rating beside each answer. Returns the
    stars chosen (attempt id → 1–5 or None)."""
    texts = job.texts()
    answers = {a.model: a for a in job.comparison.results} if job.comparison else {}
    scores = {s.model: s for s in job.verdict.scores} if job.verdict else {}
    stars: dict[str, int | None] = {}
    for start in range(0, len(job.models), PER_ROW):
        row = job.models[start:start + PER_ROW]
        for column, model in zip(st.columns(len(row)), row, strict=True):
            with column.container(border=True):
                st.markdown(f"**{model}**")
                answer = answers.get(model)
                st.markdown(answer.text if answer and answer.ok else texts.get(model) or "…")
                if answer is not None:
                    st.caption(answer_stats(answer))
                if score := scores.get(model):
                    st.caption(judge_line(score))
                if rate and answer is not None and answer.ok:
                    stars[answer.attempt_id] = st.radio(
                        f"Your rating of {model}", STARS, horizontal=True,
                        key=f"stars_{answer.attempt_id}",
                        format_func=lambda v: "–" if v is None else f"{v}★")
    if job.error:
        st.error(f"The comparison stopped: {job.error}")
    elif job.comparison:
        done = job.comparison
        st.caption(f"Total cost {money(done.total_cost_usd)} · wall time {done.wall_ms:,.0f} ms"
                   f" · comparison `{done.comparison_id}`")
        render_tool_calls(comparison_tool_calls(done.comparison_id))
    return stars


@st.fragment(run_every=POLL_S)
def live_answers() -> None:
    """Polls the running comparison; a full rerun once it ends stops the polling."""
    job = st.session_state[JOB_KEY]
    render_answers(job)
    if job.done:
        st.rerun()


def rating_form(job: CompareJob, stars: dict[str, int | None]) -> None:
    """The best pick and 'Save ratings': one rating per answer, a second save updates it."""
    answered = job.comparison.answered if job.comparison else []
    if not answered:
        return
    st.markdown("**Rate the answers** — stars beside each answer, then pick the best one.")
    names = {a.attempt_id: a.model for a in answered}
    best = st.radio("Best answer", [None, *names], horizontal=True,
                    key=f"best_{job.comparison.comparison_id}",
                    format_func=lambda a: "none" if a is None else names[a])
    if st.button("Save ratings"):
        try:
            saved = save_ratings(stars, best, settings.ledger())
        except OrchestraError as exc:
            st.error(f"Ratings not saved: {exc}")
        else:
            st.success(f"Saved your ratings of {saved} answer(s); saving again updates them.")


start_form()
job = st.session_state.get(JOB_KEY)
if job is None:
    empty_state("No comparison yet — write a prompt, pick models and press Compare.")
elif not job.done:
    live_answers()
else:
    rating_form(job, render_answers(job, rate=True))
