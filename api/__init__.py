"""The HTTP API: app factory, routers, schemas, auth dependencies, error mapping. Thin."""
