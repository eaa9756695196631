"""The domain package every function of the platform imports (the Lambda layer)."""
