"""regiongan: region-level control over GAN image generation."""
__version__ = "0.1.0"
