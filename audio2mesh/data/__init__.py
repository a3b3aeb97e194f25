"""The speech-to-motion data engine: speech sources with phone timings, augmentation, the
corpus builder (``l2t-avatar data build``) and dataset loaders (our corpus, VOCASET, BIWI)."""
