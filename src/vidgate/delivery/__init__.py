"""Delivery: what a finished job hands out — renditions, HLS, posters, sprites and previews.

A media floor (PyAV and Pillow only; nothing of the engine): ``profile`` says what to make,
``build.build(source, out_dir, profile)`` makes it in one decode pass and returns the facts of
every file (:class:`~vidgate.delivery.build.Rendition`).
"""
