"""The desk's page handlers, one module per area. Each is thin: a context, one use case of
`states`, a template."""
