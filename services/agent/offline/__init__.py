"""The offline assistant model: a deterministic chat model for running without an LLM."""
