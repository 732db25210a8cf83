"""cxlens NLP layer: text -> labels. No web, CLI or report code lives here.

* :mod:`nlp.text`: language identification, clause segmentation, lemmas;
* :mod:`nlp.families`: model families (pipeline, heads, featurizers, encoder, ensemble) and their registry;
* :mod:`nlp.labeled`: record formats and decoding, datasets and feedback, the bundled seed set;
* :mod:`nlp.lifecycle`: training, evaluation, the gate, the model store, cards, active learning, serving;
* top level: the prediction schema, the taxonomy, errors, paths/config, progress, file locks.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
