"""cxlens NLP layer: text -> labels (language, segmentation, features, classifiers,
pipeline, training, evaluation, model store). No web or report code lives here."""

__all__ = ["__version__"]
__version__ = "0.1.0"
