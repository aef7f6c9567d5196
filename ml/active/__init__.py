"""Active learning: which images are most useful to label next."""
