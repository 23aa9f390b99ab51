"""The `casewise` command line: one module per command group."""
