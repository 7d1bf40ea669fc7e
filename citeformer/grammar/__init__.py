"""The citation language and its renderings for each decoding runtime."""
