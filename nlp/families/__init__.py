"""Model families: the pipeline, its heads and featurizers (TF-IDF, encoder), the ensemble, and the
registry that names each family once (:mod:`nlp.families.registry`)."""
