"""The model contract: heads, urgency, the multi-head model and its verified on-disk artifact."""
