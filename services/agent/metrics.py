"""The agent's Prometheus metrics (labels never carry a conversation or a number)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

TURNS = Counter("switchboard_agent_turns_total", "Turns answered, by outcome", ["outcome"])
REPUBLISHED = Counter(
    "switchboard_agent_replies_republished_total", "Redelivered inputs answered from the stored reply"
)
BURST_SIZE = Histogram("switchboard_agent_burst_inputs", "Inputs answered in one turn", buckets=(1, 2, 3, 5, 8, 13, 21))
TURN_SECONDS = Histogram(
    "switchboard_agent_turn_seconds", "Time to compose a reply, model time included",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
DEBOUNCE_SECONDS = Histogram(
    "switchboard_agent_debounce_seconds", "Time spent waiting for more messages of a burst",
    buckets=(0, 0.1, 0.25, 0.5, 1, 2, 5, 10),
)
LLM_SECONDS = Histogram(
    "switchboard_agent_llm_seconds", "Model call time", ["model"],
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
LLM_RETRIES = Counter("switchboard_agent_llm_retries_total", "Retried model calls, by error", ["error"])
TOKENS = Counter("switchboard_agent_tokens_total", "Model tokens", ["model", "direction"])
PROMPT_TOKENS = Histogram(
    "switchboard_agent_prompt_tokens", "Estimated prompt tokens per model call",
    buckets=(250, 500, 1000, 2000, 4000, 8000, 16000, 32000, 64000),
)
TOOL_CALLS = Counter("switchboard_agent_tool_calls_total", "Tool calls, by tool and outcome", ["tool", "outcome"])
TOOL_LOOPS_STOPPED = Counter("switchboard_agent_tool_limit_reached_total", "Turns stopped at the tool-round bound")
COMPACTIONS = Counter("switchboard_agent_compactions_total", "Times old turns were folded into the summary")
