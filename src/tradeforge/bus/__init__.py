"""Message bus: commands to one handler, events to many subscribers, by topic."""
