"""Image handling: validation and sanitising of uploads, and the local Pillow enhancer."""
