"""A chatbot transcript as structured turns that say who spoke, so another person's words can be redacted.

The call centre stores turns as `{"speaker", "text"}` with speakers `customer`, `bot` and
`agent <name>`. Each turn keeps those two fields as stored and gains `role` (customer | bot | agent
| other) and, for an agent's turn, `agent_name` (and `agent_id` when it is the call's own agent):
the package redacts agents (Art. 15(4)), and their turns quote their names.
"""

from __future__ import annotations

from typing import Any

ROLES = {"customer": "customer", "caller": "customer", "bot": "bot", "chatbot": "bot"}


def structured_transcript(turns: Any, agent_id: Any, agent_name: Any) -> list[dict[str, Any]]:
    if not isinstance(turns, list):
        return [_turn({"speaker": None, "text": turns}, agent_id, agent_name)]
    return [_turn(turn if isinstance(turn, dict) else {"speaker": None, "text": turn}, agent_id, agent_name)
            for turn in turns]


def _turn(turn: dict[str, Any], agent_id: Any, agent_name: Any) -> dict[str, Any]:
    speaker = turn.get("speaker")
    label = speaker.strip() if isinstance(speaker, str) else ""
    head, _, rest = label.partition(" ")
    out: dict[str, Any] = {"speaker": speaker, "text": turn.get("text")}
    if head.lower() == "agent":
        name = rest.strip() or agent_name
        out["role"] = "agent"
        out["agent_name"] = name
        if name == agent_name:
            out["agent_id"] = agent_id
    else:
        out["role"] = ROLES.get(label.lower(), "other")
    return out
