"""Output writers: Rich tables, JSON, Markdown (and JUnit where a command offers it)."""
