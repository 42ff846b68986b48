"""``transcriber worker``: consume the job queue and run the shared pipeline on each job."""
