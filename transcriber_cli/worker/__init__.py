"""``transcriber worker``: consume the job queue and run the local pipeline on each task."""
