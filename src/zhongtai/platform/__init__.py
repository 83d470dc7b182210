"""Platform foundation: config, storage, tenancy, auth, idempotency, events, errors."""
