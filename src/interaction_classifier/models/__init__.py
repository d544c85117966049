"""The model contract: heads, urgency, the multi-head model and its signed, pickle-free
on-disk artifact."""
