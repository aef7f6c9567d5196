"""Few-shot on a real site: the shared base plus a few of a site's photos against training from nothing."""
