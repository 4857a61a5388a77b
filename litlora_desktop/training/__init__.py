"""Training the demo SAM2 on generated shape worlds (``litlora-train``); never imported by the app."""
