"""Settings modules: ``base`` (shared), ``dev`` (demo defaults), ``test``, ``production``."""
