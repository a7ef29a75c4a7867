"""Data: the earthquake catalog (fetch, import, load), features and splits, the
other built-in problems and a user's own table, prepared splits (``Dataset``) and
synthetic data for tests.

The bottom layer: imports nothing of hpsearch but :mod:`hpsearch.errors` and
:mod:`hpsearch.files`.
"""
