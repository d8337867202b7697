"""The ``conformer_reuse`` encoder and its modules.

- ``conformer_reuse_encoder``: the encoder, a superset of ESPnet's Conformer;
- ``map_source_layer``: a group's map source, the layer that computes its map;
- ``shared_map_attention``: the other layers' attention (V and output projections);
- ``learned_map``: input-independent maps (learned logits over relative offsets);
- ``rel_position_attention``: ESPnet's relative-position attention without copies;
- ``reuse_groups``: layout validation and bookkeeping;
- ``padding``: batch-invariant encoding (true-length masks, masked convolutions).
"""
