"""Execution: the DAG executor, its slots, typed run events, run sessions and resume."""
