"""Side-by-side speed, memory and FLOP measurements of Conformer encoders."""
