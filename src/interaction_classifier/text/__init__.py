"""The text layer: input validation, the long-message policy, the pre-tokenization guard, the
spaCy pipeline, language detection, personal-data redaction, e-mail reply stripping, and the rule
cue patterns and their matcher.
"""
