"""ESPnet's ``asr_train`` with ``conformer_reuse`` registered.

Registration happens at import, so that spawned multi-GPU workers, which
re-import this module, know the encoder too.
"""

from espnet_reuse.registration import register

register()

from espnet2.bin.asr_train import get_parser, main  # noqa: E402

__all__ = ["get_parser", "main"]

if __name__ == "__main__":
    main()
