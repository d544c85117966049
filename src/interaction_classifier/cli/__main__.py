"""``python -m interaction_classifier.cli``: the same app as the console script."""

from interaction_classifier.cli.main import app

app()
