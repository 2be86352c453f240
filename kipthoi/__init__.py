"""kipthoi — the composition root: settings, wiring and the command line."""
