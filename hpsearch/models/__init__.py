"""Models: the NumPy network (``network``: NumPy only, what workers train; ``mlp``: the
scikit-learn estimators ``NumpyMLPRegressor`` and ``NumpyMLPClassifier``) and its
public training protocol, population training, scikit-learn estimators by name,
trial checkpoints and the metrics a model is scored with.

May import :mod:`hpsearch.data` (and the leaf modules ``errors``, ``files``);
never search, execution, results or the top.
"""
