"""What a job is, for every place that runs one (the local runner, the remote client, the
worker): its options and resume key, which inputs a run takes, where outputs go, what each
input's result is, and the exit code of a run."""
