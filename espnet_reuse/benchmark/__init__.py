"""Side-by-side speed, memory and FLOP measurements of the reuse encoders against ESPnet's,
and of decoding against ESPnet's ``Speech2Text``."""
