"""The agent: turns each conversation's text into replies with a LangGraph assistant."""
