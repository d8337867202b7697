"""ESPnet's ``asr_inference`` with ``conformer_reuse`` registered."""

from espnet_reuse.registration import register

register()

from espnet2.bin.asr_inference import Speech2Text, get_parser, main  # noqa: E402

__all__ = ["Speech2Text", "get_parser", "main"]

if __name__ == "__main__":
    main()
