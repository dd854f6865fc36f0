"""One module per CLI command: its options, its help text, and a call into the library."""
