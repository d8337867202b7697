"""Decoding: models loaded for search, and the searches with their scorers.

- ``inference``: loading a model for batch decoding, greedy CTC, the search interface;
- ``joint_search``: ESPnet's joint CTC/attention beam search, batched over utterances;
- ``ctc_prefix_score``: the CTC prefix scorer of that search;
- ``decoder_step``: the attention decoder behind the same interface (ESPnet's
  ``forward_one_step``, or keys and values projected once);
- ``beam_rules``: ESPnet's rules shared by the searches (length limits, end detection);
- ``attention_search``: CTC prefix beam search rescored by the decoder.
"""
