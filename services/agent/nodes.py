"""The graph's nodes: accept the input, ask the model, run tools, compose the reply."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Mapping, Sequence, cast

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, RemoveMessage, SystemMessage, ToolCall, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph.message import REMOVE_ALL_MESSAGES

from services.agent import metrics
from services.agent.context import compact, select_context, tokens, tool_tokens
from services.agent.inputs import LOW_VOICE_CONFIDENCE
from services.agent.llm import LlmFailed, LlmRetry, call_with_retries, model_label
from services.agent.privacy import conversation_of
from services.agent.prompt import system_message
from services.agent.replies import APOLOGY, FALLBACK, TOOL_LIMIT, clean_answer, clean_reply, message_text, stable_id
from services.agent.state import AgentState, Inbox, Reply
from services.agent.tools.base import AgentTool, ToolContext
from services.agent.tools.runner import run_tool_call
from shared.clock import Clock, SystemClock
from shared.logging import get_logger
from shared.phones import country_of_number
from shared.text import clean_text

log = get_logger(__name__)

SAFETY = 0.95  # the estimate is not the model's tokenizer: leave a margin
LIMIT_NOTE = (
    "You have used every tool step allowed for this message. Do not call tools. Answer the user now "
    "with what you have, and say plainly what you could not finish."
)


@dataclass(frozen=True)
class GraphOptions:
    prompt: str
    max_tool_steps: int = 6
    context_tokens: int = 6000
    history_turns: int = 24
    llm_retry: LlmRetry = field(default_factory=LlmRetry)
    model_label: str | None = None
    tool_timeout_s: float = 30.0
    tool_result_chars: int = 2000
    max_tool_calls_per_round: int = 25
    clock: Clock = field(default_factory=SystemClock)  # what "now" is in the prompt (tests fix it)


def calls_before(messages: list, first_input_id: str) -> list[ToolCall]:
    """The tool calls the model made earlier in this turn (after its first input)."""
    start = next((i for i, m in enumerate(messages) if m.id == first_input_id), len(messages))
    return [call for m in messages[start:] if isinstance(m, AIMessage) for call in m.tool_calls]


def _digest(call: Mapping[str, Any]) -> str:
    args = json.dumps(call.get("args") or {}, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(f"{call['name']}\n{args}".encode()).hexdigest()[:16]


def call_key(conversation: str, turn: Mapping[str, Any], call: Mapping[str, Any],
             earlier: Sequence[Mapping[str, Any]] = ()) -> str:
    """The idempotency key of one tool call, stable across crashes and retries of its turn.

    It names the turn by its *first* input (stream sequence and message sid): a turn run
    again after a crash starts at the same input even when messages that arrived meanwhile
    join its burst (its last sequence moves; its first does not). Within the turn, a call
    is told apart by what it asks (tool and arguments) only: the model asking for the same
    thing again in the same turn (a loop, or a plan redone because older tool results fell
    out of its context) gets the same key, so a create happens once. Two different requests
    never share a key. (`earlier` is accepted for callers that track the turn's calls.)
    """
    digest = _digest(call)
    first_sid = turn["message_sids"][0] if turn.get("message_sids") else ""
    return f"{conversation}:{turn['first_seq']}:{first_sid}:{digest}"


HEARD_CHARS = 300
VOICE_NOTE = (
    "The user's message in this turn came from a voice note transcribed with low confidence ({confidence:.2f}): "
    "before cancelling or moving an event or changing the time zone, repeat what you understood and ask the "
    "user to confirm."
)


def unsure_voice(messages: Sequence[Any], turn: Mapping[str, Any]) -> float | None:
    """The lowest confidence of this turn's voice notes, if it is below the bound."""
    ids = {f"in-{seq}" for seq in range(turn["first_seq"], turn["last_seq"] + 1)}
    found: list[float] = [float(voice["confidence"]) for m in messages if getattr(m, "id", None) in ids
                          for voice in [getattr(m, "additional_kwargs", {}).get("voice") or {}]
                          if isinstance(voice.get("confidence"), (int, float))]
    lowest = min(found, default=None)
    return lowest if lowest is not None and lowest < LOW_VOICE_CONFIDENCE else None


def heard(messages: Sequence[Any], turn: Mapping[str, Any]) -> str:
    """"🎤 “…”" for each voice note of the turn: the user sees what was heard before what
    was done about it (a misheard note is then obvious)."""
    ids = {f"in-{seq}" for seq in range(turn["first_seq"], turn["last_seq"] + 1)}
    lines = []
    for message in messages:
        voice = getattr(message, "additional_kwargs", {}).get("voice") if getattr(message, "id", None) in ids else None
        if voice:
            words = message_text(message.content).split("\n[")[0].strip()
            if voice.get("source") == "mixed":  # the caption is the user's own text
                words = words.split("\n", 1)[-1]
            shown = words if len(words) <= HEARD_CHARS else words[:HEARD_CHARS].rstrip() + "…"
            lines.append(f"🎤 “{shown}”")
    return "\n".join(lines)


class TurnNodes:
    def __init__(self, model: BaseChatModel, tools: list[AgentTool], options: GraphOptions):
        self.options = options
        self.tools = {tool.name: tool for tool in tools}
        schemas = [tool.schema() for tool in tools]
        self.tools_cost = tool_tokens(schemas)
        self.with_tools = model.bind_tools(schemas) if tools else model
        self.final = model.bind_tools(schemas, tool_choice="none") if tools else model
        self.label = options.model_label or model_label(model)
        self.summary_tokens = options.context_tokens // 8
        fixed = tokens([system_message(options.prompt, "America/Argentina/Buenos_Aires", country="AR")]) + self.tools_cost
        self.history_tokens = options.context_tokens - fixed - self.summary_tokens - tokens([SystemMessage(LIMIT_NOTE)])
        if self.history_tokens < options.context_tokens // 4:
            raise ValueError(
                f"AGENT_CONTEXT_TOKENS={options.context_tokens} is too small: the prompt and tool "
                f"descriptions alone take about {fixed} tokens"
            )

    async def accept(self, state: AgentState) -> dict:
        """Take the delivered input: already answered, part of an unfinished turn, or a new turn."""
        inbox, answered = state["inbox"], state.get("answered_seq", 0)
        epoch, known = inbox.get("log_epoch", ""), state.get("log_epoch", "")
        if epoch and known and epoch != known:
            # The event log was deleted and created again: its sequences start at 1 once more,
            # so "answered up to N" and the `in-<seq>` ids of the stored messages mean nothing
            # now (a new input would look answered, or replace an old message). Start the
            # thread's window afresh; the summary, what the user told us before, is kept.
            log.warning("event_log_recreated", old_epoch=known, new_epoch=epoch)
            return {**self._new_turn(inbox), "messages": [RemoveMessage(id=REMOVE_ALL_MESSAGES), *inbox["messages"]],
                    "answered_seq": 0, "reply": None, "log_epoch": epoch}
        updates: dict[str, Any] = {"log_epoch": epoch} if epoch and not known else {}
        if inbox["seq"] <= answered:
            return {**updates, "outcome": "answered"}
        pending = state.get("turn")
        if pending and pending["last_seq"] > answered and pending["first_seq"] <= inbox["seq"] <= pending["last_seq"]:
            return {**updates, "outcome": "resumed"}  # a turn that failed half-way: carry on from where it stopped
        return {**updates, **self._new_turn(inbox)}

    @staticmethod
    def _new_turn(inbox: Inbox) -> dict[str, Any]:
        return {"outcome": "new", "messages": inbox["messages"], "turn": inbox["turn"],
                "time_zone": inbox["time_zone"], "rounds": 0, "usage": {"input_tokens": 0, "output_tokens": 0},
                "tool_calls": [], "failure": None}

    @staticmethod
    def after_accept(state: AgentState) -> str:
        """Answered inputs end here; a resumed turn goes on from its last stored message."""
        if state["outcome"] == "answered":
            return "done"
        last = state["messages"][-1]
        if state["outcome"] == "resumed" and isinstance(last, AIMessage):
            return "tools" if last.tool_calls and not state.get("failure") else "compose"
        return "chat"

    def _compacted(self, state: AgentState) -> tuple[list, dict]:
        """At a turn's first model call: fold the oldest turns into the summary if the
        stored thread outgrew the budget. Returns (messages to use, state updates)."""
        messages = state["messages"]
        turn = state["turn"]
        if messages[-1].id != f"in-{turn['last_seq']}":
            return messages, {}
        done = compact(messages, state.get("summary", ""), self.history_tokens, self.summary_tokens,
                       protect_from=f"in-{turn['first_seq']}", keep_turns=self.options.history_turns)
        if done is None:
            return messages, {}
        metrics.COMPACTIONS.inc()
        removals, summary = done
        removed = {r.id for r in removals}
        return [m for m in messages if m.id not in removed], {"messages": removals, "summary": summary}

    async def chat(self, state: AgentState, config: RunnableConfig) -> dict:
        """Ask the model for the next step; at the tool-round bound, for a final answer without
        tools. The first call of a turn keeps the stored thread within the budget; an answer
        without tool calls is composed into the reply in the same step."""
        messages, updates = self._compacted(state)
        at_limit = state.get("rounds", 0) >= self.options.max_tool_steps
        system = system_message(self.options.prompt, state["time_zone"], updates.get("summary", state.get("summary", "")),
                                now=self.options.clock.now(), country=country_of_number(state["turn"]["user"]))
        if unsure := unsure_voice(state["messages"], state["turn"]):
            system = SystemMessage(f"{system.content}\n\n{VOICE_NOTE.format(confidence=unsure)}")
        if at_limit:
            system = SystemMessage(f"{system.content}\n\n{LIMIT_NOTE}")
        budget = int(self.options.context_tokens * SAFETY) - tokens([system]) - self.tools_cost
        history = select_context(messages, f"in-{state['turn']['first_seq']}", budget)
        metrics.PROMPT_TOKENS.observe(tokens([system, *history]) + self.tools_cost)
        model = self.final if at_limit else self.with_tools
        started = time.perf_counter()
        usage = dict(state.get("usage") or {"input_tokens": 0, "output_tokens": 0})
        failure = None
        try:
            answer = await call_with_retries(lambda: model.ainvoke([system, *history]), self.options.llm_retry)
        except LlmFailed as exc:
            log.warning("llm_failed", error=str(exc), attempts=exc.attempts, transient=exc.transient)
            failure = {"reason": "llm_unavailable" if exc.transient else "llm_error",
                       "error": str(exc), "attempts": exc.attempts}
            answer = AIMessage(APOLOGY)
        finally:
            metrics.LLM_SECONDS.labels(self.label).observe(time.perf_counter() - started)
        answer = clean_answer(answer)
        if answer.usage_metadata:
            usage["input_tokens"] += answer.usage_metadata.get("input_tokens", 0)
            usage["output_tokens"] += answer.usage_metadata.get("output_tokens", 0)
        if at_limit:
            metrics.TOOL_LOOPS_STOPPED.inc()
            if answer.tool_calls:  # never store a call that will get no result
                answer = AIMessage(message_text(answer.content) or TOOL_LIMIT, id=answer.id,
                                   usage_metadata=answer.usage_metadata)
        update = {**updates, "messages": [*updates.get("messages", []), answer], "usage": usage, "failure": failure}
        if not answer.tool_calls or failure:
            update |= self._reply({**state, **update, "messages": [answer]}, config, heard(state["messages"], state["turn"]))
        return update

    @staticmethod
    def after_chat(state: AgentState) -> str:
        """Run tools while the model asks for them; an answer was composed in `chat`."""
        last = state["messages"][-1]
        return "tools" if isinstance(last, AIMessage) and last.tool_calls and not state.get("failure") else "done"

    async def run_tools(self, state: AgentState, config: RunnableConfig) -> dict:
        """Run the last message's tool calls in order; every call gets a result, errors included."""
        turn = state["turn"]
        zone = state["time_zone"]
        conversation = conversation_of(config["configurable"]["thread_id"])
        changes: dict[str, Any]
        results, records, changes = [], list(state.get("tool_calls") or []), {}
        asked = calls_before(state["messages"][:-1], f"in-{turn['first_seq']}")
        # `after_chat` routes here only when the last message is an AIMessage that asks for tools.
        asked_before = {_digest(call) for call in asked}
        new_calls = 0
        for call in cast(AIMessage, state["messages"][-1]).tool_calls:
            # A call the turn already made is answered again under the same key (cheap, and no
            # second side effect); only new requests count toward the per-step cap.
            repeat = _digest(call) in asked_before
            new_calls += 0 if repeat else 1
            if new_calls > self.options.max_tool_calls_per_round:
                # A model asking for dozens of calls at once (a loop, or a hostile prompt) gets an
                # answer for each, but only the first few run: a turn's work stays bounded.
                metrics.TOOL_CALLS.labels("skipped", "error").inc()
                records.append({"name": call["name"][:64], "ok": False})
                results.append(ToolMessage(
                    f"Error: not run; at most {self.options.max_tool_calls_per_round} tool calls run per step.",
                    tool_call_id=call["id"], name=call["name"], status="error"))
                continue
            key = call_key(conversation, turn, call, asked)
            asked.append(call)
            ctx = ToolContext(owner=turn["user"], business=turn["business"], conversation=conversation,
                              time_zone=changes.get("time_zone", zone),
                              call_key=key, correlation_id=turn["correlation_id"], causation_id=turn["causation_id"])
            content, ok, change = await run_tool_call(self.tools.get(call["name"]), call, ctx, self.options.tool_timeout_s)
            changes.update(change)
            metrics.TOOL_CALLS.labels(call["name"] if call["name"] in self.tools else "unknown", "ok" if ok else "error").inc()
            records.append({"name": call["name"][:64], "ok": ok})
            results.append(ToolMessage(clean_text(content, self.options.tool_result_chars), tool_call_id=call["id"],
                                       name=call["name"], status="success" if ok else "error"))
        return {"messages": results, "tool_calls": records, "rounds": state.get("rounds", 0) + 1, **changes}

    async def compose(self, state: AgentState, config: RunnableConfig) -> dict:
        """Compose the reply from the last model message (a resumed turn that had its answer)."""
        return self._reply(state, config, heard(state["messages"], state["turn"]))

    def _reply(self, state: AgentState, config: RunnableConfig, prefix: str = "") -> dict:
        """The reply to the turn, stored with the last input sequence it answers; `prefix`
        (what was heard in voice notes) goes first."""
        conversation = conversation_of(config["configurable"]["thread_id"])
        turn = state["turn"]
        last = state["messages"][-1]
        text = clean_reply(last.content) if isinstance(last, AIMessage) else FALLBACK
        if prefix:
            text = f"{prefix}\n\n{text}"
        reply = Reply(
            reply_id=stable_id("reply", conversation, turn["last_seq"]),
            event_id=stable_id("event", conversation, turn["last_seq"]),
            text=text,
            model=self.label,
            usage=dict(state.get("usage") or {"input_tokens": 0, "output_tokens": 0}),
            tool_calls=list(state.get("tool_calls") or []),
            latency_ms=round((time.time() - turn["started_at"]) * 1000, 1),
            composed_at=datetime.now(UTC).isoformat(),
            turn=turn,
            failure=state.get("failure"),
        )
        return {"reply": reply, "answered_seq": turn["last_seq"], "turns": state.get("turns", 0) + 1}
