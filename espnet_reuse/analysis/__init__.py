"""Attention analysis: what each layer and head of an attention encoder (every family
with a reuse form, reuse or not) attends to."""
