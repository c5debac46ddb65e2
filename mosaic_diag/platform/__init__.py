"""Adapters to the world outside, used by every layer above: git, the Render API, redaction of
secrets, the audit log, atomic file writes and YAML with line numbers."""
