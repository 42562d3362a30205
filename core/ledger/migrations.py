"""Ordered, named schema migrations, tracked in ``_migrations(name, applied_at)``.

Each migration is a name (``m001_initial``, ``m002_…``) and its SQL statements; they are applied
in list order, each in its own transaction together with its row in ``_migrations``, when the
ledger is opened. A migration is never edited once shipped: a schema change is a new entry at
the end of ``MIGRATIONS``. Two processes cannot race here: DuckDB lets one process open the file
at a time, so the second opener finds the first one's rows and applies nothing.

Tables (timestamps are naive UTC; money is ``DECIMAL(18,8)`` USD, NULL = unpriced, never 0):

``runs``
    One row per run. ``run_id`` key; ``demand`` the user's text; ``created_at``/``finished_at``;
    ``status`` running|done|failed|cancelled|interrupted; ``mode`` live|sandbox|mixed;
    ``budget_usd`` (NULL = no budget); ``plan_json`` the validated plan; ``summary_json`` what
    the executor reports at the end; ``owner`` the ``host:pid`` of the process running it
    (m002), so a run left ``running`` by a killed process can be told apart from a live one.
``tasks``
    One row per (run_id, task_id), upserted as its status changes: ``wave`` (dependency level),
    ``title``, ``kind``, ``status`` queued|running|done|failed|cancelled|skipped, the ``model``
    and ``tier`` that answered, ``output`` (what a resume reuses for done tasks), ``cost_usd``,
    ``started_at``, ``ended_at``, ``error``.
``attempts``
    Every HTTP try, failures included: the fields of ``core.types.AttemptRecord`` with
    ``started_at``/``ended_at`` as TIMESTAMP, plus ``day`` (the UTC date of ``started_at``),
    stored so that history aggregates by day without computing it per row. ``attempt_id`` is
    the key, so re-flushing a batch never duplicates a row. ``trace_id``/``span_id`` (m003)
    are the OpenTelemetry ids of the attempt's span (hex; empty when tracing is off), and
    ``purpose`` says what the call was for (task, pattern, judge, planner, scorer, ask, ...),
    and ``output`` an answered attempt's text (what a resume adopts instead of paying again).
``comparisons``
    One row per compare/refine/moa/vote: ``comparison_id``, ``kind``, ``prompt``,
    ``created_at``, ``meta_json``. Its answers are the attempts with that ``comparison_id``.
``response_cache``
    Answers the response cache serves (m007, ``core.calls.cache``): ``cache_key`` the SHA-256
    of the request's canonical JSON, ``model``, ``result_json`` the answer, ``cost_usd`` what
    it cost when it was paid for, ``created_at`` (the TTL counts from it), ``hits`` and
    ``last_hit_at``. An attempt answered from it has ``attempts.cached`` true, cost 0, no tokens.
``ratings``
    Judgements of attempts: ``rating`` 1–5 or NULL, ``best``, ``rater``, ``source``
    person|judge, ``note``, ``created_at``. One row per (attempt_id, source, rater) (m006): a
    second judgement by the same rater replaces the first.
``outcomes``
    How well a model answered a prompt (m004), what the learned ranker learns from:
    ``outcome_id`` key; ``prompt`` text and ``prompt_hash`` (sha256 hex of the text); ``kind``
    the task kind; ``model`` (a catalog id, or an imported table's own model name); ``score`` in
    [0, 1]; ``source`` person|judge|eval|import; ``cost_usd`` (NULL = unknown);
    ``input_tokens``/``output_tokens`` (NULL = unknown); ``latency_ms``; ``dataset``;
    ``attempt_id`` (NULL when not from an attempt); ``created_at``.
``tool_calls``
    Every tool call of a tool loop (m005): ``run_id``/``task_id`` (empty outside a run),
    ``attempt_id`` of the model call that asked for it, ``call_id`` (the model's id for the call),
    ``tool``, ``source`` (builtin, module:NAME, mcp:SERVER), ``arguments_json`` (secrets
    redacted), ``started_at``, ``duration_ms``, ``status`` ok|error|timeout, ``error``.
"""

from __future__ import annotations

import duckdb

from core.ledger.records import utc_now

Migration = tuple[str, tuple[str, ...]]

M001_INITIAL: Migration = (
    "m001_initial",
    (
        """CREATE TABLE runs (
            run_id VARCHAR PRIMARY KEY,
            demand VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            status VARCHAR NOT NULL
                CHECK (status IN ('running', 'done', 'failed', 'cancelled', 'interrupted')),
            mode VARCHAR NOT NULL CHECK (mode IN ('live', 'sandbox', 'mixed')),
            budget_usd DECIMAL(18, 8),
            plan_json VARCHAR NOT NULL DEFAULT '{}',
            summary_json VARCHAR NOT NULL DEFAULT '{}',
            finished_at TIMESTAMP
        )""",
        """CREATE TABLE tasks (
            run_id VARCHAR NOT NULL,
            task_id VARCHAR NOT NULL,
            wave INTEGER NOT NULL DEFAULT 0,
            title VARCHAR NOT NULL DEFAULT '',
            kind VARCHAR NOT NULL DEFAULT '',
            status VARCHAR NOT NULL
                CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled', 'skipped')),
            model VARCHAR NOT NULL DEFAULT '',
            tier VARCHAR NOT NULL DEFAULT '',
            output VARCHAR,
            cost_usd DECIMAL(18, 8),
            started_at TIMESTAMP,
            ended_at TIMESTAMP,
            error VARCHAR NOT NULL DEFAULT '',
            PRIMARY KEY (run_id, task_id)
        )""",
        """CREATE TABLE attempts (
            attempt_id VARCHAR PRIMARY KEY,
            run_id VARCHAR NOT NULL,
            task_id VARCHAR NOT NULL,
            comparison_id VARCHAR NOT NULL,
            wave INTEGER NOT NULL,
            attempt_no INTEGER NOT NULL,
            provider VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            tier VARCHAR NOT NULL,
            mode VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            error_class VARCHAR NOT NULL,
            error_message VARCHAR NOT NULL,
            http_status INTEGER,
            input_tokens BIGINT NOT NULL,
            output_tokens BIGINT NOT NULL,
            cached_input_tokens BIGINT NOT NULL,
            reasoning_tokens BIGINT NOT NULL,
            cost_usd DECIMAL(18, 8),
            latency_ms DOUBLE NOT NULL,
            ttft_ms DOUBLE,
            fallback_from VARCHAR NOT NULL,
            reason VARCHAR NOT NULL,
            started_at TIMESTAMP NOT NULL,
            ended_at TIMESTAMP NOT NULL,
            day DATE NOT NULL
        )""",
        """CREATE TABLE comparisons (
            comparison_id VARCHAR PRIMARY KEY,
            kind VARCHAR NOT NULL CHECK (kind IN ('compare', 'refine', 'moa', 'vote')),
            prompt VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            meta_json VARCHAR NOT NULL DEFAULT '{}'
        )""",
        """CREATE TABLE ratings (
            attempt_id VARCHAR NOT NULL,
            rating INTEGER CHECK (rating BETWEEN 1 AND 5),
            best BOOLEAN NOT NULL DEFAULT false,
            rater VARCHAR NOT NULL DEFAULT '',
            source VARCHAR NOT NULL CHECK (source IN ('person', 'judge')),
            note VARCHAR NOT NULL DEFAULT '',
            created_at TIMESTAMP NOT NULL
        )""",
    ),
)

M002_RUN_OWNER: Migration = (
    "m002_run_owner",
    ("ALTER TABLE runs ADD COLUMN owner VARCHAR NOT NULL DEFAULT ''",),
)

M003_ATTEMPT_TRACES: Migration = (
    "m003_attempt_traces",
    ("ALTER TABLE attempts ADD COLUMN trace_id VARCHAR NOT NULL DEFAULT ''",
     "ALTER TABLE attempts ADD COLUMN span_id VARCHAR NOT NULL DEFAULT ''",
     "ALTER TABLE attempts ADD COLUMN purpose VARCHAR NOT NULL DEFAULT ''",
     "ALTER TABLE attempts ADD COLUMN output VARCHAR"),
)

M004_OUTCOMES: Migration = (
    "m004_outcomes",
    (
        """CREATE TABLE outcomes (
            outcome_id VARCHAR PRIMARY KEY,
            prompt VARCHAR NOT NULL,
            prompt_hash VARCHAR NOT NULL,
            kind VARCHAR NOT NULL DEFAULT '',
            model VARCHAR NOT NULL,
            score DOUBLE NOT NULL CHECK (score BETWEEN 0 AND 1),
            source VARCHAR NOT NULL CHECK (source IN ('person', 'judge', 'eval', 'import')),
            cost_usd DECIMAL(18, 8),
            input_tokens BIGINT CHECK (input_tokens >= 0),
            output_tokens BIGINT CHECK (output_tokens >= 0),
            latency_ms DOUBLE,
            dataset VARCHAR NOT NULL DEFAULT '',
            attempt_id VARCHAR,
            created_at TIMESTAMP NOT NULL
        )""",
    ),
)

M005_TOOL_CALLS: Migration = (
    "m005_tool_calls",
    (
        """CREATE TABLE tool_calls (
            run_id VARCHAR NOT NULL DEFAULT '',
            task_id VARCHAR NOT NULL DEFAULT '',
            attempt_id VARCHAR NOT NULL,
            call_id VARCHAR NOT NULL,
            tool VARCHAR NOT NULL,
            source VARCHAR NOT NULL DEFAULT '',
            arguments_json VARCHAR NOT NULL DEFAULT '{}',
            started_at TIMESTAMP NOT NULL,
            duration_ms DOUBLE NOT NULL CHECK (duration_ms >= 0),
            status VARCHAR NOT NULL CHECK (status IN ('ok', 'error', 'timeout')),
            error VARCHAR NOT NULL DEFAULT '',
            PRIMARY KEY (attempt_id, call_id)
        )""",
    ),
)

M006_RATINGS_UNIQUE: Migration = (
    "m006_ratings_unique",
    (  # the latest judgement per (attempt, source, rater) is kept; the table is rebuilt with
       # the key because DuckDB cannot index rows deleted in the same transaction
        """CREATE TABLE ratings_m006 AS SELECT * FROM ratings QUALIFY row_number() OVER (
            PARTITION BY attempt_id, source, rater ORDER BY created_at DESC, rowid DESC) = 1""",
        "DROP TABLE ratings",
        """CREATE TABLE ratings (
            attempt_id VARCHAR NOT NULL,
            rating INTEGER CHECK (rating BETWEEN 1 AND 5),
            best BOOLEAN NOT NULL DEFAULT false,
            rater VARCHAR NOT NULL DEFAULT '',
            source VARCHAR NOT NULL CHECK (source IN ('person', 'judge')),
            note VARCHAR NOT NULL DEFAULT '',
            created_at TIMESTAMP NOT NULL,
            UNIQUE (attempt_id, source, rater)
        )""",
        """INSERT INTO ratings (attempt_id, rating, best, rater, source, note, created_at)
           SELECT attempt_id, rating, best, rater, source, note, created_at FROM ratings_m006""",
        "DROP TABLE ratings_m006",
    ),
)

M007_RESPONSE_CACHE: Migration = (
    "m007_response_cache",
    (
        """CREATE TABLE response_cache (
            cache_key VARCHAR PRIMARY KEY,
            model VARCHAR NOT NULL,
            result_json VARCHAR NOT NULL,
            cost_usd DECIMAL(18, 8),
            created_at TIMESTAMP NOT NULL,
            hits BIGINT NOT NULL DEFAULT 0 CHECK (hits >= 0),
            last_hit_at TIMESTAMP
        )""",
        "ALTER TABLE attempts ADD COLUMN cached BOOLEAN NOT NULL DEFAULT false",
    ),
)

MIGRATIONS: tuple[Migration, ...] = (
    M001_INITIAL,
    M002_RUN_OWNER,
    M003_ATTEMPT_TRACES,
    M004_OUTCOMES,
    M005_TOOL_CALLS,
    M006_RATINGS_UNIQUE,
    M007_RESPONSE_CACHE,
)

_TRACKING = """CREATE TABLE IF NOT EXISTS _migrations (
    name VARCHAR PRIMARY KEY,
    applied_at TIMESTAMP NOT NULL
)"""


def applied_migrations(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Names of the migrations already applied, in the order they were applied."""
    con.execute(_TRACKING)
    rows = con.execute("SELECT name FROM _migrations ORDER BY applied_at, name").fetchall()
    return [name for (name,) in rows]


def apply_migrations(
    con: duckdb.DuckDBPyConnection, migrations: tuple[Migration, ...] = MIGRATIONS
) -> list[str]:
    """Apply the migrations not yet applied, in order; return the names applied now."""
    done = set(applied_migrations(con))
    applied_now = []
    for name, statements in migrations:
        if name in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            for statement in statements:
                con.execute(statement)
            con.execute("INSERT INTO _migrations VALUES (?, ?)", [name, utc_now()])
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        applied_now.append(name)
    return applied_now
