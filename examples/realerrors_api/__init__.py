"""Small modules shaped like Mosaic's `api/` package, used by `examples.realerrors` so that the
real exceptions it collects carry frames that look like the real app's (storage, sessions,
ps101, prompts, uploads, job sources, AI clients). Each function does one real operation."""
