"""The object store (S3 or R2): key layout, objects, presigned URLs."""
