"""ESPnet's ``asr_inference`` with the reuse encoders registered (``encoder.families``).

ESPnet's own loader: it unpickles the model file in full (``weights_only=False``), so
use it only for model files you trust (README, "model files read as data")."""

from espnet_reuse.registration import register

register()

from espnet2.bin.asr_inference import Speech2Text, get_parser, main  # noqa: E402

__all__ = ["Speech2Text", "get_parser", "main"]

if __name__ == "__main__":
    main()
