"""Planning: the validated Plan (a DAG), the LLM and offline planners, plan files."""
