"""Record the end-to-end test conversations in tests/stories/ from real conversations.

Each scenario in tests/stories/scenarios.yml is played against a real Rasa + action server;
the resulting tracker becomes a Rasa test story (user text + expected intent + expected
actions), and the full transcript is written for review to var/stories/transcripts.md.
Review the transcripts before committing re-recorded stories: a story asserts what the bot
did when it was recorded, so only record behaviour you checked is right.

    .venv/bin/python scripts/record_stories.py [scenario names...]
"""

from __future__ import annotations

import sys
import tempfile
import uuid
from pathlib import Path

import yaml
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.core.training_data.story_writer.yaml_story_writer import YAMLStoryWriter

from bot.devservers import Servers, isolated_env, upgrade_database
from bot.paths import ROOT

STORIES = ROOT / "tests" / "stories"


def main(names: list[str]) -> int:
    scenarios = yaml.safe_load((STORIES / "scenarios.yml").read_text(encoding="utf-8"))
    if names:
        scenarios = [s for s in scenarios if s["name"] in names]
    domain = Domain.load(str(ROOT / "domain.yml"))
    steering = {s.name for s in domain.slots if s.influence_conversation} | {"requested_slot"}
    transcripts: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        env = isolated_env(Path(tmp))
        upgrade_database(env)
        servers = Servers(Path(tmp), env)
        servers.start()
        try:
            senders: dict[str, str] = {}
            for scenario in scenarios:
                name = scenario["name"]
                # Scenarios sharing a `student` are the same student (returning student).
                student = scenario.get("student", name)
                sender = senders.setdefault(student, f"rec-{uuid.uuid4().hex[:8]}")
                before = len(servers.tracker(sender)["events"])
                transcripts.append(f"## {name}\n")
                for text in scenario["messages"]:
                    replies = servers.say(sender, text)
                    transcripts.append(f"- **student:** {text}")
                    transcripts += [f"  - coach: {r}" for r in replies]
                events = servers.tracker(sender)["events"][before:]
                if before:  # continue from the earlier conversation's end state
                    events = [e for e in events if e["event"] != "session_started"]
                # Only slots that steer the dialogue belong in a story; the others (the
                # student's words, counters, ids) would only make it unreadable.
                events = [e for e in events
                          if e["event"] != "slot" or e["name"] in steering]
                tracker = DialogueStateTracker.from_dict(sender, events, domain.slots)
                story = tracker.as_story(include_source=False)
                story.story_steps[0].block_name = scenario.get("title", name)
                text = YAMLStoryWriter().dumps(story.story_steps, is_test_story=True)
                (STORIES / f"test_{name}.yml").write_text(
                    f"# Recorded by scripts/record_stories.py from scenario '{name}'.\n{text}",
                    encoding="utf-8")
                transcripts.append("")
        finally:
            servers.stop()
    out = ROOT / "var" / "stories" / "transcripts.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(transcripts), encoding="utf-8")
    print(f"wrote {len(scenarios)} stories; transcripts: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
