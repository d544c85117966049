"""The text layer: the spaCy pipeline, e-mail reply stripping, and the rule cue patterns and their
matcher.
"""
