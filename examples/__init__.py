"""Demo and test parts for mosaic-diag: a throwaway PostgreSQL, an LLM provider stand-in,
a corpus of real library errors, sample logs and the example Mosaic app."""
