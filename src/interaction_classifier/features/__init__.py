"""Features: the fitted featurizer (TF-IDF, cues, lexicon, word vectors) and its frozen inference
form.
"""
