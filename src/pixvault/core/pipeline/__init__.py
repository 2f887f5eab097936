"""Derivatives of stored images: which ones exist, their keys and links, and the service that
makes them off the request path (the pixel work itself is behind the ImageProcessor port)."""
