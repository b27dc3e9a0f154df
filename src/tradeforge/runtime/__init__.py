"""Runtime: settings, the one composition root, and the system's start, stop and recovery."""
