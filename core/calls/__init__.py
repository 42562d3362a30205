"""The one model-call stack: the gateway (one HTTP attempt), budgets, breakers, retries, fallback, records and traces."""
