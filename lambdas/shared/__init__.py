"""Small adapters shared by the handlers: AWS clients, S3 URIs, the team spec."""
