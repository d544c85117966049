"""The text layer: input validation, the long-message policy, the pre-tokenization guard, the
batch tokenizer and the spaCy reference pipeline, language detection, personal-data redaction,
e-mail reply stripping, and the rule cue patterns and their matcher.
"""
