"""Use cases shared by the API, the CLI, the web UI and the jobs."""
