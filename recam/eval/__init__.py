"""Evaluation: camera poses estimated from videos (COLMAP), camera-accuracy and image metrics, ``recam eval``."""
