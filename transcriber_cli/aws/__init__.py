"""AWS adaptors at the bottom of the import graph: sessions and clients with retries, error
mapping, the stack's names and how its bucket, queues and secrets are found, and small S3,
SQS and SSM wrappers. boto3 and botocore are imported here and nowhere else, lazily."""
