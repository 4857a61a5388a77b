"""The user's work: the annotation store (masks, prompts, undo), the project folder that keeps it on
disk with autosave and backups, and the formats it is exported to and imported from."""
