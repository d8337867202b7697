"""The reuse encoders and their modules.

- ``reuse``: the one mechanism (``ReuseEncoder``, ``ReuseOptions``) every family uses;
- ``families``: ESPnet's encoders with a reuse form, and the registered names;
- ``layer_convention``: how each family's layer is read (declared once per family);
- ``conformer_reuse_encoder``, ``e_branchformer_reuse_encoder``,
  ``branchformer_reuse_encoder``, ``transformer_reuse_encoder``: the thin classes;
- ``shared_map``: a group's map, from its source to the layers that apply it;
- ``shared_map_attention``: the other layers' attention (V and output projections);
- ``learned_map``: input-independent maps (learned logits over relative offsets);
- ``rel_position_attention``: ESPnet's relative-position attention without copies;
- ``reuse_groups``: layout validation and bookkeeping;
- ``padding``: batch-invariant encoding (true-length masks, masked convolutions).
"""
