"""Helpers for the pipeline tests that drive real processes: the Dagster UI (`dsar ui`) in its own
process group, headless Chromium, a throwaway PostgreSQL database, and one request executed in a
fresh child process (its own step forkserver)."""
