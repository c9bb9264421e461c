"""scikit-learn wrappers, as ``keras.wrappers``: ``SKLearnClassifier``, ``SKLearnRegressor``,
``SKLearnTransformer`` (they need scikit-learn: ``pip install 'cyneuron[sklearn]'``), and the BLAS thread
limit used inside parallel workers (``limit_blas_threads``, ``in_parallel_worker``)."""

from cyneuron.wrappers._parallel import in_parallel_worker, limit_blas_threads
from cyneuron.wrappers.sklearn_wrapper import SKLearnClassifier, SKLearnRegressor, SKLearnTransformer

__all__ = ["SKLearnClassifier", "SKLearnRegressor", "SKLearnTransformer", "limit_blas_threads", "in_parallel_worker"]
