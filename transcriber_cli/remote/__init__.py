"""Remote mode: S3 (storage.py), SQS (queue.py), MongoDB (tasks.py), the client (client.py)."""
