"""Sources to corpus: the dataset registry, loaders, label mappings, the gold set and the corpus
builder.
"""
