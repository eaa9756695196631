"""Image handling: validation and sanitising of uploads (`validation`), decoding and encoding
(`webp`), the watermark (`watermark`), and the local Pillow enhancer (`enhance`) with its
banded processing (`bands`)."""
