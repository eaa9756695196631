"""Use cases of the AI Image Enhancer."""
