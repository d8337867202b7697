"""Attention analysis: what each layer and head of a Conformer attends to."""
