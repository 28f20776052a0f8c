"""Media: probe, validate, thumbnail, and the synthetic renderer. PyAV only, no system ffmpeg."""
