"""The NumPy network as scikit-learn estimators: ``NumpyMLPRegressor`` and ``NumpyMLPClassifier``.

They are :class:`hpsearch.models.network.NetworkRegressor` and
:class:`~hpsearch.models.network.NetworkClassifier` (the same training, the same
numbers) with scikit-learn's estimator API (``get_params``, ``clone``, ``score``,
pipelines and searches), its checks of data and fitted state and its
``ConvergenceWarning``. Workers train the networks of :mod:`hpsearch.models.network`,
which do not import scikit-learn.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from hpsearch.models.network import NetworkClassifier, NetworkRegressor

_PARAMETERS = """
    Parameters
    ----------
    hidden_width : int, default=32
        Units in each hidden layer.
    epochs : int, default=100
        Passes over the training data.
    learning_rate : float, default=0.1
        Step size of gradient descent.
    n_hidden_layers : int, default=1
        Hidden layers; 1 gives the classic three-layer network
        (input, hidden, output).
    batch_size : int, "full" or None, default=None
        Rows per gradient step; None or "full" use the whole training set (full
        batch; "full" is how a TOML config says it).
    activation : {"sigmoid", "tanh", "relu"}, default="sigmoid"
        Non-linearity of the hidden layers.
    init_scale : float, default=1.0
        Weights start as ``N(0, (init_scale / sqrt(fan_in))^2)``.
    shuffle : bool, default=True
        Shuffle the rows before each epoch (mini-batch training only).
    dtype : {"float64", "float32"}, default="float64"
        Floating-point type of the computation.
    random_state : int, numpy Generator, SeedSequence or None, default=None
        Seeds the initial weights and the shuffling.
"""

_ATTRIBUTES = """
    Attributes
    ----------
    coefs_, intercepts_ : list of ndarray
        Weights and biases per layer.
    loss_curve_ : ndarray
        Training {metric} per epoch, averaged over the epoch's batches as they
        were seen (no extra pass over the data).
    validation_curve_ : ndarray
        Validation {metric} after each epoch when ``X_val``/``y_val`` are given
        to ``fit``, else empty.
    n_iter_ : int
        Epochs completed.
    status_ : {{"ok", "diverged", "stopped"}}
        "diverged" when the loss became non-finite; the weights are then those with
        the lowest training loss seen (the initial ones, or those an epoch started
        from), so predictions stay sane, and a ``ConvergenceWarning`` is issued.
    converged_ : bool
        False when training diverged.
    diverged_epoch_ : int or None
        The epoch whose loss became non-finite.
"""


class NumpyMLPBase(BaseEstimator):
    """scikit-learn's checks for a network of :mod:`hpsearch.models.network`."""

    divergence_warning = ConvergenceWarning

    def check_data(self, X, y, reset: bool):
        return validate_data(self, X, y, y_numeric=self.output_unit == "identity",
                             dtype=[np.float64, np.float32], reset=reset)

    def check_rows(self, X, reset: bool = False) -> np.ndarray:
        return validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])

    def check_fitted(self) -> None:
        check_is_fitted(self)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


class NumpyMLPRegressor(RegressorMixin, NumpyMLPBase, NetworkRegressor):
    __doc__ = """Feed-forward network trained by mini-batch gradient descent, NumPy only.

    A linear output unit and half the squared error on the standardised target
    (see :mod:`hpsearch.models.network`), so the untrained network predicts the mean.
    """ + _PARAMETERS + _ATTRIBUTES.format(metric="RMSE (target units)") + """
    Examples
    --------
    >>> import numpy as np
    >>> from hpsearch import NumpyMLPRegressor
    >>> X = np.linspace(0, 1, 200).reshape(-1, 1)
    >>> model = NumpyMLPRegressor(epochs=50, batch_size=16, random_state=0)
    >>> model.fit(X, np.sin(6 * X.ravel())).status_
    'ok'
    """


class NumpyMLPClassifier(ClassifierMixin, NumpyMLPBase, NetworkClassifier):
    __doc__ = """The same network as a classifier: one sigmoid output unit and log loss
    for two classes, softmax outputs and cross-entropy for more.

    Labels may be strings or integers (``classes_``, sorted). The lesson's own
    network is ``NumpyMLPClassifier(hidden_width=4)`` on three binary inputs.
    """ + _PARAMETERS + _ATTRIBUTES.format(metric="log loss") + """
    classes_ : ndarray
        The class labels, sorted.

    Examples
    --------
    >>> import numpy as np
    >>> from hpsearch import NumpyMLPClassifier
    >>> X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]])
    >>> net = NumpyMLPClassifier(hidden_width=4, epochs=4000, learning_rate=2.0, random_state=1)
    >>> net.fit(X, [0, 1, 1, 0]).predict(X).tolist()
    [0, 1, 1, 0]
    """

    def _init_target(self, y: np.ndarray) -> int:
        check_classification_targets(y)
        return super()._init_target(y)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        return tags
