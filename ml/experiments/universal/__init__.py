"""Studies of the universal model: a held-out domain (``heldout``) and perfect-map grouping (``ceiling``)."""
