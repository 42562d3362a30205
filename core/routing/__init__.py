"""Routing: complexity, candidates, routing state and rankers (heuristic, learned)."""
